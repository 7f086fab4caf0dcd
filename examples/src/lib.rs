//! What the example programs share: simulated meters, the `/api/v1/` contract, the
//! platform's upload records, the resend-until-acknowledged upload path, the provincial
//! platform (its services, registry and HTTP server), its history table (Parquet and CSV),
//! and the gateway's client side.

pub mod api;
pub mod audit;
pub mod client;
pub mod frontend;
pub mod history;
pub mod industry;
pub mod isolation;
pub mod limits;
pub mod outbound;
pub mod provincial;
pub mod records;
pub mod registry;
pub mod server;
pub mod sim;
pub mod tls;
pub mod upload;

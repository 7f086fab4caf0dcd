//! What the example programs share: simulated meters, the platform's upload records, the
//! resend-until-acknowledged upload path, and the provincial platform's server.

pub mod industry;
pub mod provincial;
pub mod records;
pub mod sim;
pub mod upload;

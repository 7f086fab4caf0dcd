//! What the example programs share: simulated meters of a plant.

pub mod sim;

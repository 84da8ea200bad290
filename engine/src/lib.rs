pub mod actors;
pub mod clock;
pub mod model;
pub mod policy;
pub mod sim;

pub mod actors;
pub mod clock;
pub mod config;
pub mod live;
pub mod model;
pub mod policy;
pub mod sim;

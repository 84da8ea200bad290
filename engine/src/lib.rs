pub mod actors;
pub mod clock;
pub mod live;
pub mod model;
pub mod policy;
pub mod sim;

pub mod model;
pub mod policy;

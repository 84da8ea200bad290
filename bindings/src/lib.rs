//! The native half of the `quartermaster` Python package: the simulator, the live engine
//! and the vault. The public API and the exception classes are in the Python package.

mod convert;
mod errors;
mod live;
mod sim;
mod vault;

use pyo3::prelude::*;

#[pymodule]
fn _quartermaster(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(sim::load_scenario, m)?)?;
    m.add_function(wrap_pyfunction!(sim::parse_scenario, m)?)?;
    m.add_function(wrap_pyfunction!(sim::check_scenario, m)?)?;
    m.add_function(wrap_pyfunction!(sim::run_scenario, m)?)?;
    m.add_function(wrap_pyfunction!(sim::export_trace, m)?)?;
    m.add_function(wrap_pyfunction!(sim::load_changes, m)?)?;
    m.add_function(wrap_pyfunction!(sim::replay_trace, m)?)?;
    m.add_class::<live::PyLiveEngine>()?;
    m.add_class::<live::EventStream>()?;
    m.add_class::<vault::PyVault>()?;
    Ok(())
}

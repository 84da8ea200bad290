//! Reading a scenario file: RON syntax errors and every validation problem, each with its
//! line and column.

use std::fmt;
use std::path::Path;

use ron::extensions::Extensions;

use super::locate::SpanIndex;
use super::scenario::Scenario;
use crate::model::ValidationError;

/// One problem of a scenario file, located in the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioProblem {
    pub line: usize,
    pub column: usize,
    /// Dotted path of the field (`pools[0].kind.capacity`), empty for syntax errors.
    pub field: String,
    pub message: String,
}

impl fmt::Display for ScenarioProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

/// Why a scenario could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("cannot read scenario {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{}", render(.origin, .problems))]
    Invalid {
        origin: String,
        problems: Vec<ScenarioProblem>,
    },
}

fn render(origin: &str, problems: &[ScenarioProblem]) -> String {
    let noun = if problems.len() == 1 {
        "problem"
    } else {
        "problems"
    };
    let mut out = format!("{origin}: {} {noun}", problems.len());
    for p in problems {
        out.push_str(&format!("\n  {origin}:{p}"));
    }
    out
}

impl ScenarioError {
    pub fn problems(&self) -> &[ScenarioProblem] {
        match self {
            ScenarioError::Read { .. } => &[],
            ScenarioError::Invalid { problems, .. } => problems,
        }
    }
}

/// Reads and validates a scenario file.
pub fn load_file(path: &Path) -> Result<Scenario, ScenarioError> {
    let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
        path: path.display().to_string(),
        source,
    })?;
    parse(&text, &path.display().to_string())
}

/// Parses and validates scenario text; `origin` names it in messages.
pub fn parse(text: &str, origin: &str) -> Result<Scenario, ScenarioError> {
    let options = ron::Options::default().with_default_extension(Extensions::IMPLICIT_SOME);
    let scenario: Scenario = options.from_str(text).map_err(|e| ScenarioError::Invalid {
        origin: origin.to_owned(),
        problems: vec![ScenarioProblem {
            line: e.span.start.line,
            column: e.span.start.col,
            field: String::new(),
            message: e.code.to_string(),
        }],
    })?;
    let problems = scenario.problems();
    if problems.is_empty() {
        return Ok(scenario);
    }
    let spans = SpanIndex::build(text);
    Err(ScenarioError::Invalid {
        origin: origin.to_owned(),
        problems: problems.into_iter().map(|p| locate(&spans, p)).collect(),
    })
}

fn locate(spans: &SpanIndex, problem: ValidationError) -> ScenarioProblem {
    let (line, column) = spans.find(&problem.field).unwrap_or((1, 1));
    ScenarioProblem {
        line,
        column,
        message: problem.to_string(),
        field: problem.field,
    }
}

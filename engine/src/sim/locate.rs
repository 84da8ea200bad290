//! Where each field of a RON text starts, by dotted path (`pools[1].kind.capacity`), so
//! validation problems found after parsing can still point at a line and column.
//!
//! A small scanner, not a parser: it tracks struct fields (`name:`), list and tuple
//! positions, and skips strings and comments. Enum variant names (`rate(...)`) are
//! transparent, so `pools[0].kind.capacity` finds `capacity` inside `kind: rate(...)`.

use std::collections::BTreeMap;

#[derive(Debug, Default)]
pub struct SpanIndex {
    starts: BTreeMap<String, (usize, usize)>,
}

#[derive(Debug)]
enum Frame {
    /// `( ... )` or `{ ... }`: named fields, or positions when no name was seen.
    Group { field: Option<String>, index: usize },
    /// `[ ... ]`: positions.
    List { index: usize },
}

impl SpanIndex {
    pub fn build(text: &str) -> SpanIndex {
        let mut index = SpanIndex::default();
        let mut stack: Vec<Frame> = Vec::new();
        let chars: Vec<char> = text.chars().collect();
        let (mut line, mut col) = (1usize, 1usize);
        let mut i = 0;
        let mut pending_value = false;
        let path_of = |stack: &[Frame]| -> String {
            let mut path = String::new();
            for frame in stack {
                match frame {
                    Frame::Group { field: Some(f), .. } => {
                        if !path.is_empty() {
                            path.push('.');
                        }
                        path.push_str(f);
                    }
                    Frame::Group { field: None, .. } => {}
                    Frame::List { index } => path.push_str(&format!("[{index}]")),
                }
            }
            path
        };
        while i < chars.len() {
            let c = chars[i];
            let advance = |i: &mut usize, line: &mut usize, col: &mut usize| {
                if chars[*i] == '\n' {
                    *line += 1;
                    *col = 1;
                } else {
                    *col += 1;
                }
                *i += 1;
            };
            if c == '/' && chars.get(i + 1) == Some(&'/') {
                while i < chars.len() && chars[i] != '\n' {
                    advance(&mut i, &mut line, &mut col);
                }
                continue;
            }
            if c == '/' && chars.get(i + 1) == Some(&'*') {
                while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                    advance(&mut i, &mut line, &mut col);
                }
                advance(&mut i, &mut line, &mut col);
                advance(&mut i, &mut line, &mut col);
                continue;
            }
            if c == '"' {
                if pending_value {
                    index.mark(&path_of(&stack), line, col);
                    pending_value = false;
                }
                advance(&mut i, &mut line, &mut col);
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' {
                        advance(&mut i, &mut line, &mut col);
                    }
                    if i < chars.len() {
                        advance(&mut i, &mut line, &mut col);
                    }
                }
                advance(&mut i, &mut line, &mut col);
                continue;
            }
            if c.is_alphabetic() || c == '_' {
                let (start_line, start_col) = (line, col);
                let mut word = String::new();
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    word.push(chars[i]);
                    advance(&mut i, &mut line, &mut col);
                }
                let mut j = i;
                while j < chars.len() && chars[j].is_whitespace() {
                    j += 1;
                }
                let is_field = chars.get(j) == Some(&':') && chars.get(j + 1) != Some(&':');
                if is_field && let Some(Frame::Group { field, .. }) = stack.last_mut() {
                    *field = Some(word);
                    index.mark(&path_of(&stack), start_line, start_col);
                    pending_value = false;
                } else if pending_value {
                    index.mark(&path_of(&stack), start_line, start_col);
                    pending_value = false;
                }
                continue;
            }
            match c {
                '(' | '{' => {
                    if pending_value {
                        index.mark(&path_of(&stack), line, col);
                        pending_value = false;
                    }
                    stack.push(Frame::Group {
                        field: None,
                        index: 0,
                    });
                }
                '[' => {
                    if pending_value {
                        index.mark(&path_of(&stack), line, col);
                    }
                    stack.push(Frame::List { index: 0 });
                    pending_value = true;
                }
                ')' | '}' | ']' => {
                    stack.pop();
                    pending_value = false;
                }
                ',' => match stack.last_mut() {
                    Some(Frame::List { index }) => {
                        *index += 1;
                        pending_value = true;
                    }
                    Some(Frame::Group { field, index }) => {
                        *index += 1;
                        *field = None;
                    }
                    None => {}
                },
                c if !c.is_whitespace() && pending_value => {
                    index.mark(&path_of(&stack), line, col);
                    pending_value = false;
                }
                _ => {}
            }
            advance(&mut i, &mut line, &mut col);
        }
        index
    }

    fn mark(&mut self, path: &str, line: usize, col: usize) {
        self.starts.entry(path.to_owned()).or_insert((line, col));
    }

    /// Line and column of `path`; failing an exact match, of the nearest field below it
    /// with the same last name (`pools[0].capacity` finds `pools[0].kind.capacity`), and
    /// failing that of its nearest enclosing field.
    pub fn find(&self, path: &str) -> Option<(usize, usize)> {
        if let Some(at) = self.starts.get(path) {
            return Some(*at);
        }
        let (parent, last) = match path.rfind(['.', '[']) {
            Some(cut) => (&path[..cut], path[cut..].trim_start_matches('.')),
            None => ("", path),
        };
        if !parent.is_empty() {
            let nested = self
                .starts
                .iter()
                .find(|(p, _)| p.starts_with(parent) && p.ends_with(&format!(".{last}")));
            if let Some((_, at)) = nested {
                return Some(*at);
            }
            return self.find(parent);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"// header
(
    name: "x",
    pools: [
        (id: "a", kind: slot(slots: 2, cost_per_hour: 1.0)),
        (
            id: "b", // a comment with pools: [ ( in it
            kind: rate(capacity: 0, refill_per_sec: 1, cost_per_1k_units: 0.5),
        ),
    ],
    workloads: [(client: "c", kinds: [(name: "k"), (name: "l", urgency: 2)])],
)"#;

    #[test]
    fn finds_nested_fields_by_path() {
        let spans = SpanIndex::build(TEXT);
        assert_eq!(spans.find("name"), Some((3, 5)));
        assert_eq!(spans.find("pools[0].kind.slots"), Some((5, 30)));
        assert_eq!(spans.find("pools[1].kind.capacity"), Some((8, 24)));
        assert_eq!(spans.find("workloads[0].kinds[1].urgency"), Some((11, 64)));
    }

    #[test]
    fn falls_back_to_a_nested_field_or_the_parent() {
        let spans = SpanIndex::build(TEXT);
        assert_eq!(spans.find("pools[1].capacity"), Some((8, 24)));
        assert_eq!(spans.find("pools[1].missing"), spans.find("pools[1]"));
    }
}

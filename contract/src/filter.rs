//! Which operations a run (or a `[[operations]]` rule of the configuration) applies to, selected
//! as Schemathesis selects them: by operationId, name (`GET /users/{id}`), path, method and tag,
//! exactly or by regular expression, included and excluded.

use regex::Regex;

use crate::model::Op;

/// What an operation is selected by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    OperationId,
    Name,
    Path,
    Method,
    Tag,
}

impl Field {
    pub fn flag(self) -> &'static str {
        match self {
            Field::OperationId => "operation-id",
            Field::Name => "name",
            Field::Path => "path",
            Field::Method => "method",
            Field::Tag => "tag",
        }
    }

    fn values(self, op: &Op) -> Vec<String> {
        match self {
            Field::OperationId => vec![op.id.clone()],
            Field::Name => vec![op.label()],
            Field::Path => vec![op.path.clone()],
            Field::Method => vec![op.method.clone()],
            Field::Tag => op.tags.clone(),
        }
    }
}

/// One filter: exact values, or a regular expression (searched, as Schemathesis does).
#[derive(Debug, Clone)]
pub enum Matcher {
    Exact(Vec<String>),
    Regex(Regex),
}

#[derive(Debug, Clone)]
pub struct Filter {
    pub field: Field,
    pub matcher: Matcher,
    /// How the user wrote it, for messages: `--include-path /users`.
    pub written: String,
}

impl Filter {
    pub fn exact(field: Field, values: Vec<String>, written: String) -> Self {
        Self { field, matcher: Matcher::Exact(values), written }
    }

    pub fn regex(field: Field, pattern: &str, written: String) -> Result<Self, String> {
        let regex = Regex::new(pattern).map_err(|e| format!("{written}: not a regular expression: {e}"))?;
        Ok(Self { field, matcher: Matcher::Regex(regex), written })
    }

    pub fn matches(&self, op: &Op) -> bool {
        let values = self.field.values(op);
        match &self.matcher {
            Matcher::Exact(wanted) => values.iter().any(|v| {
                wanted.iter().any(|w| if self.field == Field::Method { v.eq_ignore_ascii_case(w) } else { v == w })
            }),
            Matcher::Regex(regex) => values.iter().any(|v| regex.is_match(v)),
        }
    }
}

/// Includes (each must match, by any of its values) and excludes (none may match).
#[derive(Debug, Clone, Default)]
pub struct Selector {
    pub include: Vec<Filter>,
    pub exclude: Vec<Filter>,
}

impl Selector {
    pub fn is_empty(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty()
    }

    pub fn selects(&self, op: &Op) -> bool {
        self.include.iter().all(|f| f.matches(op)) && !self.exclude.iter().any(|f| f.matches(op))
    }

    /// The filters that match no operation at all (a typo, or an operation renamed).
    pub fn unmatched<'s>(&'s self, ops: &[Op]) -> Vec<&'s Filter> {
        self.include.iter().chain(&self.exclude).filter(|f| !ops.iter().any(|op| f.matches(op))).collect()
    }
}

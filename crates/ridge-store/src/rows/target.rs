//! How a [`Target`] is stored: `function_id` and `function_version`, or `function_alias` (then
//! `function_id` is NULL).

use ridge_core::Target;

use crate::Result;
use crate::codec::RowReader;

pub(crate) struct TargetColumns<'a> {
    pub function_id: Option<String>,
    pub function_version: Option<i64>,
    pub function_alias: Option<&'a str>,
}

pub(crate) fn columns(target: &Target) -> TargetColumns<'_> {
    match target {
        Target::Alias(name) => TargetColumns {
            function_id: None,
            function_version: None,
            function_alias: Some(name.as_str()),
        },
        Target::Function { id, version } => TargetColumns {
            function_id: Some(id.to_string()),
            function_version: Some(*version),
            function_alias: None,
        },
    }
}

pub(crate) fn read(
    r: &RowReader<'_>,
    function_id: Option<&str>,
    function_version: Option<i64>,
    function_alias: Option<&str>,
) -> Result<Target> {
    match (function_alias, function_id) {
        (Some(alias), _) => Ok(Target::Alias(r.parse("function_alias", alias)?)),
        (None, Some(id)) => Ok(Target::Function {
            id: r.parse("function_id", id)?,
            version: function_version.unwrap_or(0),
        }),
        (None, None) => Err(r.corrupt("function_id", "neither a function nor an alias")),
    }
}

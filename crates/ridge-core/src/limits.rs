//! Per-function resource limits (`cpu`, `memory_size`, `timeout`) and the operator's allowed
//! ranges, validated with Qinling's messages.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::InvalidInput;

/// The limits a function runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// CPU share in millicores (`100` is a tenth of a core).
    pub cpu: u32,
    /// Memory cap in bytes.
    pub memory_size: u64,
    /// Wall-clock limit of one execution, in seconds.
    pub timeout: u32,
}

/// An allowed range with its default, for one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = LimitRange))]
#[serde(deny_unknown_fields)]
pub struct Range {
    pub default: u64,
    pub min: u64,
    pub max: u64,
}

/// What the operator allows. The defaults are Qinling's `[resource_limits]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields, default)]
pub struct LimitsPolicy {
    pub cpu: Range,
    pub memory_size: Range,
    pub timeout: Range,
}

impl Default for LimitsPolicy {
    fn default() -> Self {
        Self {
            cpu: Range {
                default: 100,
                min: 100,
                max: 300,
            },
            memory_size: Range {
                default: 33_554_432,
                min: 33_554_432,
                max: 134_217_728,
            },
            timeout: Range {
                default: 5,
                min: 1,
                max: 300,
            },
        }
    }
}

/// Which resource a value belongs to; names and units are the ones Qinling's messages use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Cpu,
    Memory,
    Timeout,
}

impl Resource {
    fn name(self) -> &'static str {
        match self {
            Resource::Cpu => "cpu",
            Resource::Memory => "memory",
            Resource::Timeout => "timeout",
        }
    }

    fn unit(self) -> &'static str {
        match self {
            Resource::Cpu => "millicpu",
            Resource::Memory => "bytes",
            Resource::Timeout => "seconds",
        }
    }
}

impl LimitsPolicy {
    /// The limits of a function created without any resource field.
    pub fn defaults(&self) -> Limits {
        Limits {
            cpu: self.cpu.default as u32,
            memory_size: self.memory_size.default,
            timeout: self.timeout.default as u32,
        }
    }

    fn range(&self, resource: Resource) -> Range {
        match resource {
            Resource::Cpu => self.cpu,
            Resource::Memory => self.memory_size,
            Resource::Timeout => self.timeout,
        }
    }

    /// Validates one raw field as it arrived (a JSON number, or a string from a form field).
    pub fn check(&self, resource: Resource, raw: &Value) -> Result<u64, InvalidInput> {
        let not_int = || {
            InvalidInput::new(format!(
                "Invalid {} resource specified. An integer is required.",
                resource.name()
            ))
        };
        let value: i128 = match raw {
            Value::Number(n) => n.as_i64().map(i128::from).ok_or_else(not_int)?,
            Value::String(s) => s.trim().parse::<i128>().map_err(|_| not_int())?,
            _ => return Err(not_int()),
        };
        let range = self.range(resource);
        if value < i128::from(range.min) || value > i128::from(range.max) {
            return Err(InvalidInput::new(format!(
                "{} resource limitation not within the allowable range: {} ~ {}({}).",
                resource.name(),
                range.min,
                range.max,
                resource.unit()
            )));
        }
        Ok(value as u64)
    }

    /// Applies the given raw fields on top of `base`; absent fields keep their base value.
    pub fn apply(
        &self,
        base: Limits,
        cpu: Option<&Value>,
        memory_size: Option<&Value>,
        timeout: Option<&Value>,
    ) -> Result<Limits, InvalidInput> {
        let mut limits = base;
        if let Some(raw) = cpu {
            limits.cpu = self.check(Resource::Cpu, raw)? as u32;
        }
        if let Some(raw) = memory_size {
            limits.memory_size = self.check(Resource::Memory, raw)?;
        }
        if let Some(raw) = timeout {
            limits.timeout = self.check(Resource::Timeout, raw)? as u32;
        }
        Ok(limits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_are_qinlings() {
        let l = LimitsPolicy::default().defaults();
        assert_eq!((l.cpu, l.memory_size, l.timeout), (100, 33_554_432, 5));
    }

    #[test]
    fn accepts_numbers_and_numeric_strings() {
        let p = LimitsPolicy::default();
        assert_eq!(p.check(Resource::Cpu, &json!(200)), Ok(200));
        assert_eq!(p.check(Resource::Cpu, &json!(" 300")), Ok(300));
    }

    #[test]
    fn out_of_range_uses_qinlings_message() {
        let p = LimitsPolicy::default();
        let err = p.check(Resource::Cpu, &json!(50)).expect_err("too small");
        assert_eq!(
            err.message,
            "cpu resource limitation not within the allowable range: 100 ~ 300(millicpu)."
        );
        let err = p
            .check(Resource::Memory, &json!(134_217_729))
            .expect_err("too big");
        assert_eq!(
            err.message,
            "memory resource limitation not within the allowable range: 33554432 ~ 134217728(bytes)."
        );
        let err = p.check(Resource::Timeout, &json!(0)).expect_err("zero");
        assert!(err.message.starts_with("timeout resource limitation"));
    }

    #[test]
    fn non_integers_are_rejected() {
        let p = LimitsPolicy::default();
        for raw in [json!("abc"), json!(1.5), json!(null), json!([1])] {
            let err = p.check(Resource::Timeout, &raw).expect_err("not an int");
            assert_eq!(
                err.message,
                "Invalid timeout resource specified. An integer is required."
            );
        }
    }

    #[test]
    fn apply_keeps_absent_fields() {
        let p = LimitsPolicy::default();
        let base = p.defaults();
        let l = p
            .apply(base, None, None, Some(&json!("30")))
            .expect("valid");
        assert_eq!(l.timeout, 30);
        assert_eq!(l.cpu, base.cpu);
    }
}

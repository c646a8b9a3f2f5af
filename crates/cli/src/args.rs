//! A tiny argument parser: `--flag value`, `--flag=value`, positionals, and `--`.

use std::collections::BTreeMap;

/// A usage error: printed with the usage text, exit status 2.
#[derive(Debug)]
pub struct Usage(pub String);

/// Parsed arguments of one subcommand.
#[derive(Debug, Default)]
pub struct Args {
    flags: BTreeMap<&'static str, String>,
    /// Positional arguments in order.
    pub positionals: Vec<String>,
}

impl Args {
    /// Parses `argv` (after the subcommand); every flag takes a value and may appear once.
    pub fn parse(argv: &[String], known: &[&'static str]) -> Result<Self, Usage> {
        let mut out = Self::default();
        let mut it = argv.iter();
        while let Some(arg) = it.next() {
            if arg == "--" {
                out.positionals.extend(it.by_ref().cloned());
                break;
            }
            let Some(body) = arg.strip_prefix("--") else {
                out.positionals.push(arg.clone());
                continue;
            };
            let (name, inline) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v.to_owned())),
                None => (body, None),
            };
            let Some(&flag) = known.iter().find(|k| **k == name) else {
                return Err(Usage(format!("unknown option --{name}")));
            };
            let value = match inline {
                Some(v) => v,
                None => it
                    .next()
                    .cloned()
                    .ok_or_else(|| Usage(format!("--{flag} needs a value")))?,
            };
            if out.flags.insert(flag, value).is_some() {
                return Err(Usage(format!("--{flag} given twice")));
            }
        }
        Ok(out)
    }

    /// The value of an optional flag.
    pub fn get(&self, flag: &str) -> Option<&str> {
        self.flags.get(flag).map(String::as_str)
    }

    /// The value of a required flag.
    pub fn require(&self, flag: &str) -> Result<&str, Usage> {
        self.get(flag)
            .ok_or_else(|| Usage(format!("--{flag} is required")))
    }

    /// A flag's value parsed with `FromStr`, a usage error naming the flag when it does not parse.
    pub fn parsed<T: std::str::FromStr>(&self, flag: &str, what: &str) -> Result<Option<T>, Usage> {
        self.get(flag)
            .map(|v| {
                v.parse::<T>()
                    .map_err(|_| Usage(format!("--{flag} must be {what}, got {v:?}")))
            })
            .transpose()
    }

    /// Exactly `n` positionals, named in the error.
    pub fn positionals(&self, names: &[&str]) -> Result<&[String], Usage> {
        if self.positionals.len() == names.len() {
            Ok(&self.positionals)
        } else {
            Err(Usage(format!(
                "expected {} positional argument(s) ({}), got {}",
                names.len(),
                names.join(", "),
                self.positionals.len()
            )))
        }
    }
}

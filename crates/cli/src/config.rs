//! Configuration: defaults, then a file of `key = "value"` lines, then
//! `CELLTRAIL_*` environment variables, then command-line flags.

use std::fmt;

#[derive(Clone, Debug)]
pub struct Config {
    pub database_url: String,
    pub bind: String,
    pub secure_cookies: bool,
    /// Administrators must enrol a second factor (TOTP) before anything else.
    pub require_admin_totp: bool,
    /// A newer holiday calendar (JSON) to use instead of the embedded one.
    pub calendar_file: Option<String>,
    /// The user's export of the licensed ISBT 128 product description code
    /// database (a table with a code and a description column).
    pub isbt_products_file: Option<String>,
    /// The MedDRA ASCII folder (`MedAscii`) of the user's licence.
    pub meddra_dir: Option<String>,
    /// `text` or `json` log lines.
    pub log_format: String,
    pub log_level: String,
    pub from_file: Option<String>,
}

#[derive(Debug)]
pub struct ConfigError(String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            database_url: "sqlite://celltrail.db".into(),
            bind: "127.0.0.1:8080".into(),
            secure_cookies: true,
            require_admin_totp: true,
            calendar_file: None,
            isbt_products_file: None,
            meddra_dir: None,
            log_format: "text".into(),
            log_level: "info".into(),
            from_file: None,
        }
    }
}

fn parse_bool(key: &str, v: &str) -> Result<bool, ConfigError> {
    match v {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(ConfigError(format!(
            "{key}: expected true or false, got {v:?}"
        ))),
    }
}

impl Config {
    fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        match key {
            "database_url" => self.database_url = value.to_string(),
            "bind" => self.bind = value.to_string(),
            "secure_cookies" => self.secure_cookies = parse_bool(key, value)?,
            "require_admin_totp" => self.require_admin_totp = parse_bool(key, value)?,
            "calendar_file" => {
                self.calendar_file = Some(value.to_string()).filter(|v| !v.is_empty())
            }
            "meddra_dir" => self.meddra_dir = Some(value.to_string()).filter(|v| !v.is_empty()),
            "isbt_products_file" => {
                self.isbt_products_file = Some(value.to_string()).filter(|v| !v.is_empty())
            }
            "log_format" => match value {
                "text" | "json" => self.log_format = value.to_string(),
                _ => {
                    return Err(ConfigError(format!(
                        "log_format: expected text or json, got {value:?}"
                    )))
                }
            },
            "log_level" => self.log_level = value.to_string(),
            _ => return Err(ConfigError(format!("unknown configuration key {key:?}"))),
        }
        Ok(())
    }

    /// Parses the file format: `key = value` or `key = "value"`, `#` comments.
    pub fn parse_file(&mut self, text: &str, path: &str) -> Result<(), ConfigError> {
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (k, v) = line
                .split_once('=')
                .ok_or_else(|| ConfigError(format!("{path}:{}: expected key = value", i + 1)))?;
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v);
            self.set(k.trim(), v)
                .map_err(|e| ConfigError(format!("{path}:{}: {e}", i + 1)))?;
        }
        Ok(())
    }

    pub fn load(path: Option<&str>) -> Result<Config, ConfigError> {
        let mut cfg = Config::default();
        if let Some(path) = path {
            let text =
                std::fs::read_to_string(path).map_err(|e| ConfigError(format!("{path}: {e}")))?;
            cfg.parse_file(&text, path)?;
            cfg.from_file = Some(path.to_string());
        }
        for (env, key) in [
            ("CELLTRAIL_DATABASE_URL", "database_url"),
            ("CELLTRAIL_BIND", "bind"),
            ("CELLTRAIL_SECURE_COOKIES", "secure_cookies"),
            ("CELLTRAIL_REQUIRE_ADMIN_TOTP", "require_admin_totp"),
            ("CELLTRAIL_CALENDAR", "calendar_file"),
            ("CELLTRAIL_ISBT_PRODUCTS", "isbt_products_file"),
            ("CELLTRAIL_MEDDRA", "meddra_dir"),
            ("CELLTRAIL_LOG_FORMAT", "log_format"),
            ("CELLTRAIL_LOG", "log_level"),
        ] {
            if let Ok(v) = std::env::var(env) {
                cfg.set(key, &v)
                    .map_err(|e| ConfigError(format!("{env}: {e}")))?;
            }
        }
        Ok(cfg)
    }
}

pub fn init_tracing(cfg: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&cfg.log_level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if cfg.log_format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_values_and_errors_name_the_line() {
        let mut c = Config::default();
        c.parse_file(
            "# comment\ndatabase_url = \"postgres://x/y\"\nsecure_cookies = false\n",
            "f",
        )
        .unwrap();
        assert_eq!(c.database_url, "postgres://x/y");
        assert!(!c.secure_cookies);
        let e = Config::default()
            .parse_file("\nbogus = 1\n", "f")
            .unwrap_err();
        assert!(e.to_string().starts_with("f:2:"), "{e}");
        let e = Config::default()
            .parse_file("log_format = yaml\n", "f")
            .unwrap_err();
        assert!(e.to_string().contains("log_format"), "{e}");
    }
}

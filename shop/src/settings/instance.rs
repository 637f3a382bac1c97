//! `SHOP_INSTANCE`: the name of this instance, where people and tools see which one answered (step 5
//! runs several behind one address).

use std::fmt;

use super::env::{Env, SettingsError};

/// The longest name accepted: a Kubernetes pod's or a Container Apps replica's fits.
const MAX_CHARS: usize = 64;

/// A checked instance name: 1 to 64 ASCII letters, digits, `-`, `_` or `.`, so it can go into a
/// page, a log field or a metrics label as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceName(String);

impl InstanceName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for InstanceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `SHOP_INSTANCE`; unset, `HOSTNAME` (a container's name, which is what Docker and Azure Container
/// Apps set it to), else `shop`.
pub(super) fn read(env: &Env<'_>) -> Result<InstanceName, SettingsError> {
    let (variable, value, hint) = match env.optional("SHOP_INSTANCE") {
        Some(value) => ("SHOP_INSTANCE", value, ""),
        None => match env.optional("HOSTNAME") {
            Some(value) => (
                "HOSTNAME",
                value,
                " (it names this instance while SHOP_INSTANCE is unset: set SHOP_INSTANCE)",
            ),
            None => return Ok(InstanceName("shop".to_string())),
        },
    };
    value
        .parse()
        .map_err(|reason: String| SettingsError::Invalid {
            variable,
            value,
            reason: format!("{reason}{hint}"),
        })
}

impl std::str::FromStr for InstanceName {
    type Err = String;

    fn from_str(value: &str) -> Result<InstanceName, String> {
        let valid = value.chars().count() <= MAX_CHARS
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if valid {
            Ok(InstanceName(value.to_string()))
        } else {
            Err(format!(
                "expected a name of at most {MAX_CHARS} letters, digits, '-', '_' or '.'"
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::testing::{URL, env, settings};

    fn name(pairs: &[(&str, &str)]) -> Result<String, String> {
        read(&env(pairs))
            .map(|name| name.to_string())
            .map_err(|error| error.to_string())
    }

    #[test]
    fn the_name_is_set_or_the_hosts_or_shop() {
        assert_eq!(name(&[]).as_deref(), Ok("shop"));
        assert_eq!(name(&[("HOSTNAME", "web-7d9f")]).as_deref(), Ok("web-7d9f"));
        assert_eq!(
            name(&[("HOSTNAME", "web-7d9f"), ("SHOP_INSTANCE", "shop-2")]).as_deref(),
            Ok("shop-2")
        );
        assert_eq!(
            name(&[("SHOP_INSTANCE", " "), ("HOSTNAME", "")]).as_deref(),
            Ok("shop"),
            "blank counts as unset"
        );
        let longest = "a.b_c-".repeat(10) + "1234";
        assert_eq!(name(&[("SHOP_INSTANCE", &longest)]), Ok(longest.clone()));
        let settings = settings(&[URL, ("SHOP_INSTANCE", "shop-1")]).expect("valid settings");
        assert_eq!(settings.instance.as_str(), "shop-1");
    }

    #[test]
    fn a_name_that_could_not_be_shown_as_it_is_is_refused_naming_its_variable() {
        let expected = "expected a name of at most 64 letters, digits, '-', '_' or '.'";
        let too_long = "a".repeat(65);
        for wrong in [
            "shop\u{0}1",
            "shop\n2",
            "shop 3",
            "shop/4",
            "<b>",
            "Zürich",
            &too_long,
        ] {
            assert_eq!(
                name(&[("SHOP_INSTANCE", wrong)]),
                Err(format!("SHOP_INSTANCE={wrong:?} is not valid: {expected}"))
            );
        }
        assert_eq!(
            name(&[("HOSTNAME", "web\t1")]),
            Err(format!(
                "HOSTNAME=\"web\\t1\" is not valid: {expected} (it names this instance while \
                 SHOP_INSTANCE is unset: set SHOP_INSTANCE)"
            ))
        );
        assert!(
            settings(&[URL, ("SHOP_INSTANCE", "a b")])
                .expect_err("refused at start")
                .to_string()
                .starts_with("SHOP_INSTANCE=")
        );
    }
}

//! `SHOP_STEP` and the switches that override single pieces of its preset (`CART_STORE`, `CACHE`,
//! `ENROLLMENT`). What the values mean is in [`crate::topology`].

use crate::topology::{CacheMode, CartStoreKind, EnrollmentMode, Step, Topology};

use super::env::{Env, SettingsError};

pub(super) fn read(env: &Env<'_>) -> Result<Topology, SettingsError> {
    let step = match env.optional("SHOP_STEP") {
        None => Step::DEFAULT,
        Some(value) => value
            .trim()
            .parse::<u8>()
            .ok()
            .and_then(Step::from_number)
            .ok_or_else(|| SettingsError::Invalid {
                variable: "SHOP_STEP",
                value: value.clone(),
                reason: format!("expected a tutorial step from 0 to {}", Step::LAST.number()),
            })?,
    };
    let preset = step.preset();
    Ok(Topology {
        step,
        cart_store: env.switch::<CartStoreKind>()?.unwrap_or(preset.cart_store),
        cache: env.switch::<CacheMode>()?.unwrap_or(preset.cache),
        enrollment: env.switch::<EnrollmentMode>()?.unwrap_or(preset.enrollment),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::testing::{URL, env, settings};

    #[test]
    fn switches_override_the_step_preset() {
        let settings = settings(&[URL, ("SHOP_STEP", "1"), ("CART_STORE", "postgres")])
            .expect("valid settings");
        assert_eq!(settings.topology.step, Step::AzureSetup);
        assert_eq!(settings.topology.cart_store, CartStoreKind::Postgres);
    }

    #[test]
    fn the_default_is_the_target_step_and_its_preset() {
        assert_eq!(read(&env(&[])), Ok(Step::DEFAULT.preset()));
        assert_eq!(
            read(&env(&[("SHOP_STEP", " 2 "), ("ENROLLMENT", "async")])),
            Ok(Topology {
                enrollment: EnrollmentMode::Async,
                ..Step::CartsInCosmos.preset()
            })
        );
    }

    #[test]
    fn a_step_out_of_range_names_the_accepted_ones() {
        for value in ["6", "-1", "four"] {
            let error = read(&env(&[("SHOP_STEP", value)])).expect_err("must fail");
            assert_eq!(
                error.to_string(),
                format!("SHOP_STEP={value:?} is not valid: expected a tutorial step from 0 to 5")
            );
        }
        assert_eq!(
            read(&env(&[("SHOP_STEP", "5")])),
            Ok(Step::ScaleOut.preset())
        );
    }
}

//! Leader election on a `coordination.k8s.io/v1` Lease, so only one operator replica reconciles at a time.
//!
//! The holder renews the Lease every `renew_interval`; another replica takes it over once it has not been renewed
//! for `lease_duration`. Updates use the Lease's resourceVersion, so two candidates cannot both win. A leader that
//! cannot renew within `lease_duration` reports the loss, and the binary exits so it never reconciles beside a
//! new leader.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};
use tracing::{info, warn};

use crate::{Error, Result};

/// Lease settings.
#[derive(Debug, Clone)]
pub struct LeaseSettings {
    /// Lease name.
    pub name: String,
    /// Lease namespace (the operator's).
    pub namespace: String,
    /// This candidate's identity (the pod name).
    pub identity: String,
    /// How long a lease stays valid without renewal.
    pub lease_duration: Duration,
    /// How often the holder renews.
    pub renew_interval: Duration,
}

/// True when `identity` may take or keep the lease at `now`: it is free, already ours, or expired.
pub fn may_hold(spec: Option<&LeaseSpec>, identity: &str, now: Timestamp) -> bool {
    let Some(spec) = spec else { return true };
    let Some(holder) = spec.holder_identity.as_deref().filter(|h| !h.is_empty()) else {
        return true;
    };
    if holder == identity {
        return true;
    }
    let Some(renewed) = spec.renew_time.as_ref().or(spec.acquire_time.as_ref()) else {
        return true;
    };
    let duration = SignedDuration::from_secs(i64::from(spec.lease_duration_seconds.unwrap_or(15)));
    renewed
        .0
        .checked_add(duration)
        .map_or(true, |expiry| expiry < now)
}

/// Blocks until this candidate holds the lease.
pub async fn acquire(client: &Client, settings: &LeaseSettings) -> Result<()> {
    loop {
        if try_hold(client, settings).await? {
            info!(lease = %settings.name, identity = %settings.identity, "became leader");
            return Ok(());
        }
        tokio::time::sleep(settings.renew_interval).await;
    }
}

/// Renews the lease until renewal fails for longer than the lease duration (or another holder appears), then
/// returns: leadership is lost.
pub async fn keep(client: Client, settings: LeaseSettings) -> Error {
    let mut last_renewal = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(settings.renew_interval).await;
        match try_hold(&client, &settings).await {
            Ok(true) => last_renewal = tokio::time::Instant::now(),
            Ok(false) => return lost(&settings, "another candidate holds the lease"),
            Err(error) => {
                warn!(lease = %settings.name, %error, "lease renewal failed");
                if last_renewal.elapsed() > settings.lease_duration {
                    return lost(&settings, "the lease could not be renewed in time");
                }
            }
        }
    }
}

fn lost(settings: &LeaseSettings, message: &str) -> Error {
    Error::LeaderElection {
        lease: settings.name.clone(),
        message: format!("leadership lost: {message}"),
    }
}

/// One attempt to take or renew the lease. `Ok(false)` when someone else holds it or won a race.
async fn try_hold(client: &Client, settings: &LeaseSettings) -> Result<bool> {
    let leases: Api<Lease> = Api::namespaced(client.clone(), &settings.namespace);
    let now = Timestamp::now();
    let current = leases.get_opt(&settings.name).await?;
    if !may_hold(
        current.as_ref().and_then(|l| l.spec.as_ref()),
        &settings.identity,
        now,
    ) {
        return Ok(false);
    }
    let previous_holder = current
        .as_ref()
        .and_then(|l| l.spec.as_ref())
        .and_then(|s| s.holder_identity.clone());
    let ours = previous_holder.as_deref() == Some(settings.identity.as_str());
    let previous_spec = current
        .as_ref()
        .and_then(|l| l.spec.clone())
        .unwrap_or_default();
    let spec = LeaseSpec {
        holder_identity: Some(settings.identity.clone()),
        lease_duration_seconds: Some(settings.lease_duration.as_secs() as i32),
        acquire_time: if ours {
            previous_spec.acquire_time
        } else {
            Some(MicroTime(now))
        },
        renew_time: Some(MicroTime(now)),
        lease_transitions: Some(
            previous_spec.lease_transitions.unwrap_or(0) + i32::from(!ours && current.is_some()),
        ),
        ..LeaseSpec::default()
    };
    let result = match current {
        None => {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(settings.name.clone()),
                    namespace: Some(settings.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(spec),
            };
            leases.create(&PostParams::default(), &lease).await
        }
        Some(mut lease) => {
            // Keeps metadata.resourceVersion: a concurrent update makes this fail with 409 instead of winning twice.
            lease.spec = Some(spec);
            leases
                .replace(&settings.name, &PostParams::default(), &lease)
                .await
        }
    };
    match result {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
        Err(error) => Err(error.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(holder: &str, renewed: &str, seconds: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(holder.into()),
            renew_time: Some(MicroTime(renewed.parse().unwrap())),
            lease_duration_seconds: Some(seconds),
            ..LeaseSpec::default()
        }
    }

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn a_missing_or_empty_lease_is_free() {
        assert!(may_hold(None, "a", at("2024-01-01T00:00:00Z")));
        assert!(may_hold(
            Some(&LeaseSpec::default()),
            "a",
            at("2024-01-01T00:00:00Z")
        ));
    }

    #[test]
    fn a_fresh_lease_of_another_holder_is_respected() {
        let s = spec("b", "2024-01-01T00:00:00Z", 15);
        assert!(!may_hold(Some(&s), "a", at("2024-01-01T00:00:10Z")));
        assert!(
            may_hold(Some(&s), "b", at("2024-01-01T00:00:10Z")),
            "the holder keeps it"
        );
    }

    #[test]
    fn an_expired_lease_can_be_taken_over() {
        let s = spec("b", "2024-01-01T00:00:00Z", 15);
        assert!(may_hold(Some(&s), "a", at("2024-01-01T00:00:16Z")));
    }
}

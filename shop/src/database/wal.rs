//! Positions in PostgreSQL's write-ahead log, and what a read must have seen (DESIGN §7, read
//! routing): the shop's read-your-writes compares the position of a visitor's last write on the
//! primary with how far the replica has replayed, as GitLab's database load balancing does.

use sqlx::PgPool;

use super::StoreError;

/// A position in the write-ahead log (a `pg_lsn`, as the number it is). Positions only grow, on the
/// primary and, as it replays them, on every replica of it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct WalPosition(pub u64);

impl std::fmt::Display for WalPosition {
    /// As PostgreSQL writes a `pg_lsn`: `16/B374D848`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:X}/{:X}", self.0 >> 32, self.0 & 0xFFFF_FFFF)
    }
}

impl std::str::FromStr for WalPosition {
    type Err = ();

    fn from_str(text: &str) -> Result<WalPosition, ()> {
        let (high, low) = text.split_once('/').ok_or(())?;
        let high = u64::from_str_radix(high, 16).map_err(|_| ())?;
        let low = u64::from_str_radix(low, 16).map_err(|_| ())?;
        if high > u64::from(u32::MAX) || low > u64::from(u32::MAX) {
            return Err(());
        }
        Ok(WalPosition(high << 32 | low))
    }
}

/// What a read must see, from least to most demanding (so `max` combines two demands).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ReadAfter {
    /// Nothing in particular: a replica within `REPLICA_MAX_LAG_MS` will do.
    Anything,
    /// A write at this position: a replica that has replayed it, else the primary.
    Write(WalPosition),
    /// A write whose position is not known: only the primary is sure to have it.
    UnknownWrite,
}

impl ReadAfter {
    /// What a visitor's session says they last wrote, if anything.
    pub fn write(position: Option<WalPosition>) -> ReadAfter {
        position.map_or(ReadAfter::Anything, ReadAfter::Write)
    }
}

/// Where the primary's log ends now: read right after a write's commit, it is at or past the commit
/// record, so a replica that has replayed it has the write. The insert position rather than
/// `pg_current_wal_lsn()` (what is written out): it is never before a committed record, even with
/// `synchronous_commit = off`.
pub async fn primary_position(primary: &PgPool) -> Result<WalPosition, StoreError> {
    let position: i64 =
        sqlx::query_scalar("SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::bigint")
            .fetch_one(primary)
            .await?;
    from_database(position)
}

/// Where the primary's log is written to now (what a replica can have received): the lag monitor's
/// measure of the primary.
pub(super) async fn primary_written(primary: &PgPool) -> Result<WalPosition, StoreError> {
    let position: i64 = sqlx::query_scalar("SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint")
        .fetch_one(primary)
        .await?;
    from_database(position)
}

/// How far `replica` has replayed the primary's log; `None` when it is no replica (not in recovery:
/// promoted, or the primary itself).
pub(super) async fn replayed(replica: &PgPool) -> Result<Option<WalPosition>, StoreError> {
    let position: Option<i64> =
        sqlx::query_scalar("SELECT (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint")
            .fetch_one(replica)
            .await?;
    position.map(from_database).transpose()
}

fn from_database(position: i64) -> Result<WalPosition, StoreError> {
    u64::try_from(position)
        .map(WalPosition)
        .map_err(|_| StoreError::Corrupt(format!("a negative WAL position: {position}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_read_and_write_as_postgresql_does() {
        let position: WalPosition = "16/B374D848".parse().expect("a pg_lsn");
        assert_eq!(position, WalPosition(0x16_B374_D848));
        assert_eq!(position.to_string(), "16/B374D848");
        assert!("16".parse::<WalPosition>().is_err());
        assert!("1FFFFFFFF/0".parse::<WalPosition>().is_err());
    }

    #[test]
    fn the_stricter_demand_wins() {
        let early = ReadAfter::Write(WalPosition(10));
        let late = ReadAfter::Write(WalPosition(20));
        assert_eq!(early.max(late), late);
        assert_eq!(ReadAfter::Anything.max(early), early);
        assert_eq!(late.max(ReadAfter::UnknownWrite), ReadAfter::UnknownWrite);
        assert_eq!(ReadAfter::write(None), ReadAfter::Anything);
    }
}

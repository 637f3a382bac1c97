//! PgBouncer in transaction pooling mode in front of one test database, as Azure Database for
//! PostgreSQL's built-in PgBouncer runs (port 6432 there).
//!
//! It needs PgBouncer 1.21 or later: sqlx prepares named statements, which only a PgBouncer that
//! tracks them (`max_prepared_statements`) can hand from one server connection to another.
//! `TEST_PGBOUNCER` names the program (`./scripts/test` builds Debian's 1.24 source package when the
//! machine's own is older); otherwise `pgbouncer` on the PATH.

use std::process::Command;

use crate::TestDatabase;
use crate::server_process::{ServerProcess, scratch};

pub struct TestPgBouncer {
    /// The test database through PgBouncer.
    pub url: String,
    server: ServerProcess,
}

/// How the pooler is set up; `prepared_statements: 0` is PgBouncer's own default (not tracked).
#[derive(Debug, Clone, Copy)]
pub struct PoolerSettings {
    /// Server connections per database and user: fewer than the shop's pool, so its connections
    /// must take turns on them, which only transaction pooling allows.
    pub server_connections: u32,
    pub prepared_statements: u32,
}

impl PoolerSettings {
    /// Azure's set-up as `infra/` configures it: transaction pooling, prepared statements tracked.
    pub const AZURE: PoolerSettings = PoolerSettings {
        server_connections: 2,
        prepared_statements: 200,
    };
}

impl TestPgBouncer {
    pub fn start(database: &TestDatabase, settings: PoolerSettings) -> TestPgBouncer {
        let program = std::env::var("TEST_PGBOUNCER").unwrap_or_else(|_| "pgbouncer".into());
        let (dir, port) = scratch("pgbouncer");
        let upstream = url::Url::parse(&database.url).expect("a database URL");
        let user = upstream.username().to_string();
        // trust, as the local server: the user must still be listed
        std::fs::write(dir.join("userlist.txt"), format!("\"{user}\" \"\"\n")).expect("userlist");
        let config = format!(
            "[databases]\n\
             {name} = host={host} port={upstream_port} dbname={name}\n\
             [pgbouncer]\n\
             listen_addr = 127.0.0.1\n\
             listen_port = {port}\n\
             unix_socket_dir =\n\
             auth_type = trust\n\
             auth_file = {dir}/userlist.txt\n\
             admin_users = {user}\n\
             pool_mode = transaction\n\
             default_pool_size = {servers}\n\
             max_client_conn = 200\n\
             max_prepared_statements = {prepared}\n\
             ignore_startup_parameters = extra_float_digits\n",
            name = database.name,
            host = upstream.host_str().unwrap_or("127.0.0.1"),
            upstream_port = upstream.port().unwrap_or(5432),
            dir = dir.display(),
            servers = settings.server_connections,
            prepared = settings.prepared_statements,
        );
        std::fs::write(dir.join("pgbouncer.ini"), config).expect("pgbouncer.ini");
        let mut command = Command::new(&program);
        // it refuses to run as root (as the tests do in CI), but can switch to the server's user
        if running_as_root() {
            command.args(["-u", "postgres"]);
        }
        command.arg(dir.join("pgbouncer.ini"));
        let server = ServerProcess::start(command, dir, port, "pgbouncer.log");
        TestPgBouncer {
            url: format!("postgres://{user}@127.0.0.1:{port}/{}", database.name),
            server,
        }
    }

    /// PgBouncer's admin console (`SHOW POOLS`, `SHOW STATS`): simple queries only.
    pub fn admin_url(&self) -> String {
        let user = url::Url::parse(&self.url)
            .map(|url| url.username().to_string())
            .unwrap_or_default();
        format!("postgres://{user}@127.0.0.1:{}/pgbouncer", self.server.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.server.dir.join("pgbouncer.log")).unwrap_or_default()
    }
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .find(|line| line.starts_with("Uid:"))
            .and_then(|line| line.split_whitespace().nth(1))
            == Some("0")
    })
}

//! `PostgresSink`: writes records into PostgreSQL tables by key, a batch per transaction —
//! the part of Confluent's JDBC sink (`io.confluent.connect.jdbc.JdbcSinkConnector`) that
//! Eddy needs, with its key names.
//!
//! The schema is deliberately simple: a table has a key column (`pk.fields`, `key` by
//! default) and a `value` column; the record key goes to the first, the record value to the
//! second, both as text cast to the column's type by PostgreSQL (so an `integer` key column
//! or a `jsonb` value column work; a value that does not fit the type is a bad record).
//! Values are written as text: text as is, JSON compact (into a `json`/`jsonb` column a
//! text value becomes a JSON string), bytes when they are UTF-8. JSON values are not
//! spread over several columns. With `auto.create=true` (the default) a missing table is
//! created as `(<pk.fields> text PRIMARY KEY, value text)` — `value jsonb` when the value
//! converter is `JsonConverter`.
//!
//! Each `put` is one transaction, committed before `put` returns, so `flush` has nothing
//! left to do and the runner commits the group offsets only of rows that are committed. In
//! `insert.mode=upsert` (the default) a row is written with `INSERT … ON CONFLICT (key) DO
//! UPDATE`: replaying the records after the last offset commit (what a crash does) writes
//! the same final rows, so every key lands exactly once. A tombstone (null value) deletes
//! the key's row (`delete.enabled=true`, the default; with `false` a tombstone is a bad
//! record). `insert.mode=insert` writes plain `INSERT`s: a key written twice — a replay
//! included — breaks the primary key and is a bad record.
//!
//! A batch is written with one statement per run of consecutive writes (or deletes) to one
//! table, the keys and values sent as arrays and `unnest`ed — in upsert mode a run keeps the
//! last write of each key, since one `INSERT … ON CONFLICT` may not touch a row twice. If
//! the database refuses the batch for its data (SQLSTATE classes 21, 22 and 23: a value
//! that does not fit its column, a constraint), the batch is written again one record at a
//! time, each under a savepoint, to find the record: the records before it are committed
//! and `put` answers [`ConnectError::Refused`], so the runner sends that record to the
//! dead-letter topic (`errors.tolerance=all`) or fails the task naming it. A database that
//! cannot be reached or went away is a retriable error: the task is restarted with
//! back-off. Any other SQL error (a missing column, no unique constraint to upsert on,
//! permissions) fails the task: a restart would meet it again.
//!
//! Where Eddy differs from the JDBC sink: `pk.mode` defaults to (and only takes)
//! `record_key`, with a single key column `key` by default; `delete.enabled` defaults to
//! true; `table.name.format` names one table, quoted as one identifier (a `.` in a topic
//! name stays part of the table name rather than naming a schema); no TLS.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use tokio_postgres::{Client, Config, NoTls, Statement};

use super::converter::{Converter, Data};
use super::error::ConnectError;
use super::sink::{Sink, SinkRecord};

/// How long connecting to the database may take, when `connection.url` does not say.
const CONNECT_TIMEOUT_MS: u64 = 10_000;
/// How long one `put` (its whole transaction) may take before the task gives up and is
/// restarted.
const TRANSACTION_TIMEOUT_MS: u64 = 120_000;
/// The most tables one task writes (a transform may route records to many topics).
const TABLES_MAX: usize = 1_000;
/// PostgreSQL's longest identifier (`NAMEDATALEN - 1`); longer ones would be truncated.
pub const IDENTIFIER_BYTES_MAX: usize = 63;
/// The column the record value goes to.
const VALUE_COLUMN: &str = "value";
/// Where `table.name.format` puts the topic.
const TOPIC_PLACEHOLDER: &str = "${topic}";

/// How rows are written (`insert.mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertMode {
    /// `INSERT`: a key already in the table is a bad record.
    Insert,
    /// `INSERT … ON CONFLICT (key) DO UPDATE`: the last value of a key wins.
    Upsert,
}

impl InsertMode {
    /// Parses `insert` or `upsert` (case-insensitive).
    pub fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_lowercase().as_str() {
            "insert" => Some(Self::Insert),
            "upsert" => Some(Self::Upsert),
            _ => None,
        }
    }
}

/// The validated settings of a `PostgresSink` connector (`Debug` hides the password).
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresSinkConfig {
    /// `connection.url`, without a `jdbc:` prefix: a `postgresql://` URL or `key=value`
    /// pairs, as libpq takes them.
    pub connection_url: String,
    /// `connection.user`: overrides the URL's user.
    pub user: Option<String>,
    /// `connection.password`: overrides the URL's password.
    pub password: Option<String>,
    /// `topics`.
    pub topics: Vec<String>,
    /// `table.name.format`, `${topic}` replaced by the record's topic.
    pub table_name_format: String,
    /// `insert.mode`.
    pub insert_mode: InsertMode,
    /// `pk.fields`: the key column.
    pub key_column: String,
    /// `auto.create`: create a missing table.
    pub auto_create: bool,
    /// `delete.enabled`: a tombstone deletes the key's row.
    pub delete_enabled: bool,
}

impl std::fmt::Debug for PostgresSinkConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresSinkConfig")
            .field("connection_url", &redact_password(&self.connection_url))
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "****"))
            .field("topics", &self.topics)
            .field("table_name_format", &self.table_name_format)
            .field("insert_mode", &self.insert_mode)
            .field("key_column", &self.key_column)
            .field("auto_create", &self.auto_create)
            .field("delete_enabled", &self.delete_enabled)
            .finish()
    }
}

impl PostgresSinkConfig {
    /// The table `topic` is written to.
    pub fn table_name(&self, topic: &str) -> String {
        table_name(&self.table_name_format, topic)
    }

    /// The client configuration: the URL with `connection.user`/`connection.password`
    /// applied and a connect timeout when the URL has none.
    fn client_config(&self) -> Result<Config, String> {
        let mut config = parse_connection_url(&self.connection_url)?;
        if let Some(user) = &self.user {
            config.user(user);
        }
        if let Some(password) = &self.password {
            config.password(password);
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_millis(CONNECT_TIMEOUT_MS));
        }
        Ok(config)
    }
}

/// The table `topic` goes to under `table.name.format` `format`.
pub(crate) fn table_name(format: &str, topic: &str) -> String {
    format.replace(TOPIC_PLACEHOLDER, topic)
}

/// Parses `connection.url` (a `jdbc:` prefix is accepted, as JDBC URLs are what Kafka users
/// have); `Err` says what is wrong without repeating a password.
pub(crate) fn parse_connection_url(url: &str) -> Result<Config, String> {
    let url = url.strip_prefix("jdbc:").unwrap_or(url);
    let config = Config::from_str(url).map_err(|err| {
        let cause = std::error::Error::source(&err)
            .map(|c| format!(": {c}"))
            .unwrap_or_default();
        format!(
            "not a PostgreSQL connection string ({err}{cause}): expected \
             postgresql://USER@HOST:PORT/DATABASE or `host=… port=… user=… dbname=…`"
        )
    })?;
    if config.get_hosts().is_empty() && config.get_hostaddrs().is_empty() {
        return Err("names no host: expected postgresql://USER@HOST:PORT/DATABASE".to_owned());
    }
    Ok(config)
}

/// `url` with its password replaced by `****`, for error messages and logs.
pub(crate) fn redact_password(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(authority_end);
        if let Some((credentials, host)) = authority.rsplit_once('@') {
            if let Some((user, _)) = credentials.split_once(':') {
                return format!("{scheme}://{user}:****@{host}{path}");
            }
        }
        return url.to_owned();
    }
    url.split_whitespace()
        .map(|pair| match pair.split_once('=') {
            Some(("password", _)) => "password=****".to_owned(),
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Why `name` cannot be a PostgreSQL identifier, if it cannot.
pub(crate) fn identifier_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        Some("must not be empty".to_owned())
    } else if name.len() > IDENTIFIER_BYTES_MAX {
        Some(format!(
            "`{name}` is longer than PostgreSQL's {IDENTIFIER_BYTES_MAX}-byte identifiers"
        ))
    } else if name.contains('\0') {
        Some("must not contain NUL characters".to_owned())
    } else {
        None
    }
}

/// `name` as a quoted SQL identifier.
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `text` as an SQL string literal (`standard_conforming_strings` is on since
/// PostgreSQL 9.1, so only quotes need doubling).
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// One table the sink writes, with its statements prepared on the current connection.
struct Table {
    name: String,
    /// Whether the value column holds JSON (`json` or `jsonb`).
    value_is_json: bool,
    /// Writes rows: `$1` the keys, `$2` the values (`text[]`).
    write: Statement,
    /// Deletes rows: `$1` the keys (`text[]`).
    delete: Statement,
}

/// What one record does to its table.
#[derive(Debug)]
struct Op {
    table: usize,
    key: String,
    /// `None` deletes the row.
    value: Option<String>,
}

/// Why a batch was not written.
enum Fault {
    /// The database refused the data of some record (SQLSTATE classes 21, 22, 23).
    Record(String),
    /// Anything else: the task's error.
    Task(ConnectError),
}

/// Writes records into PostgreSQL tables by key.
pub struct PostgresSink {
    connector: String,
    config: PostgresSinkConfig,
    /// Whether the value converter is `JsonConverter` (new tables get a `jsonb` value).
    value_json: bool,
    client: Option<Client>,
    tables: Vec<Table>,
    /// The index in `tables` of each topic's table.
    table_of_topic: HashMap<String, usize>,
}

impl std::fmt::Debug for PostgresSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresSink")
            .field("connector", &self.connector)
            .field("url", &redact_password(&self.config.connection_url))
            .field(
                "tables",
                &self.tables.iter().map(|t| &t.name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl PostgresSink {
    /// A sink for connector `connector` (the name shows in `pg_stat_activity`).
    pub fn new(connector: &str, config: PostgresSinkConfig, value_converter: Converter) -> Self {
        Self {
            connector: connector.to_owned(),
            config,
            value_json: matches!(value_converter, Converter::Json { .. }),
            client: None,
            tables: Vec::new(),
            table_of_topic: HashMap::new(),
        }
    }

    fn context(&self) -> String {
        format!("PostgresSink {}", self.connector)
    }

    fn error(&self, what: &str, err: &tokio_postgres::Error) -> ConnectError {
        database_error(format!("{}: {what}", self.context()), err)
    }

    /// An error a restart cannot fix.
    fn fatal(&self, reason: String) -> ConnectError {
        ConnectError::Database {
            context: self.context(),
            reason,
            retriable: false,
        }
    }

    /// Connects, then makes every configured topic's table ready.
    async fn open(&mut self) -> Result<(), ConnectError> {
        let mut config = self
            .config
            .client_config()
            .map_err(|reason| self.fatal(format!("connection.url {reason}")))?;
        config.application_name(format!("eddy-connect-{}", self.connector));
        let url = redact_password(&self.config.connection_url);
        let (client, connection) = config
            .connect(NoTls)
            .await
            .map_err(|err| self.error(&format!("connect to {url}"), &err))?;
        let connector = self.connector.clone();
        // The connection does the client's I/O; it ends when the client is dropped.
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::warn!(%connector, error = %err, "PostgreSQL connection closed");
            }
        });
        self.client = Some(client);
        self.tables.clear();
        self.table_of_topic.clear();
        for topic in self.config.topics.clone() {
            self.table_of(&topic).await?;
        }
        Ok(())
    }

    /// The index in `tables` of `topic`'s table, made ready on first use (a transform may
    /// route records to topics the configuration does not name).
    async fn table_of(&mut self, topic: &str) -> Result<usize, ConnectError> {
        if let Some(index) = self.table_of_topic.get(topic) {
            return Ok(*index);
        }
        let name = self.config.table_name(topic);
        let index = match self.tables.iter().position(|t| t.name == name) {
            Some(index) => index,
            None => {
                if let Some(reason) = identifier_problem(&name) {
                    return Err(self.fatal(format!("table name for topic {topic}: {reason}")));
                }
                if self.tables.len() >= TABLES_MAX {
                    return Err(self.fatal(format!(
                        "topic {topic} would be a table past the limit of {TABLES_MAX} tables"
                    )));
                }
                let Some(client) = self.client.as_ref() else {
                    return Err(not_connected(self.context()));
                };
                let table = self.table(client, name).await?;
                self.tables.push(table);
                self.tables.len() - 1
            }
        };
        self.table_of_topic.insert(topic.to_owned(), index);
        Ok(index)
    }

    /// Reads table `name`'s columns (creating it first if missing and `auto.create`) and
    /// prepares its statements.
    async fn table(&self, client: &Client, name: String) -> Result<Table, ConnectError> {
        let mut columns = self.columns(client, &name).await?;
        if columns.is_empty() {
            if !self.config.auto_create {
                return Err(self.fatal(format!(
                    "table {} does not exist and auto.create is false: create it with a `{}` \
                     primary key and a `{VALUE_COLUMN}` column",
                    quote(&name),
                    self.config.key_column
                )));
            }
            let value_type = if self.value_json { "jsonb" } else { "text" };
            // Two tasks (or two connectors) may create the same table at once, and
            // `IF NOT EXISTS` does not stop the loser from failing on the catalog's unique
            // index: a transaction-scoped advisory lock on the name makes them take turns
            // (the statements of one simple query are one transaction).
            let create = format!(
                "SELECT pg_advisory_xact_lock(hashtext({})); \
                 CREATE TABLE IF NOT EXISTS {} ({} text PRIMARY KEY, {} {value_type})",
                literal(&name),
                quote(&name),
                quote(&self.config.key_column),
                quote(VALUE_COLUMN)
            );
            client
                .batch_execute(&create)
                .await
                .map_err(|err| self.error(&format!("create table {}", quote(&name)), &err))?;
            tracing::info!(connector = %self.connector, table = %name, "created table");
            columns = self.columns(client, &name).await?;
        }
        let column_type = |column: &str| {
            columns
                .iter()
                .find(|(c, _)| c == column)
                .map(|(_, t)| t.clone())
        };
        let (Some(key_type), Some(value_type)) = (
            column_type(&self.config.key_column),
            column_type(VALUE_COLUMN),
        ) else {
            let found: Vec<&str> = columns.iter().map(|(c, _)| c.as_str()).collect();
            return Err(self.fatal(format!(
                "table {} needs the columns `{}` (pk.fields) and `{VALUE_COLUMN}`; it has {}",
                quote(&name),
                self.config.key_column,
                found.join(", ")
            )));
        };
        self.statements(client, name, &key_type, &value_type).await
    }

    /// Prepares the statements of table `name`, whose key and value columns have these
    /// types.
    async fn statements(
        &self,
        client: &Client,
        name: String,
        key_type: &str,
        value_type: &str,
    ) -> Result<Table, ConnectError> {
        let (table, key, value) = (
            quote(&name),
            quote(&self.config.key_column),
            quote(VALUE_COLUMN),
        );
        // The casts name a type without its modifier (`character varying`, not
        // `character varying(10)`): a cast to the full type would silently cut a long
        // value, where the assignment to the column refuses it.
        let mut write = format!(
            "INSERT INTO {table} ({key}, {value}) \
             SELECT r.k::{key_type}, r.v::{value_type} \
             FROM unnest($1::text[], $2::text[]) AS r(k, v)"
        );
        if self.config.insert_mode == InsertMode::Upsert {
            write.push_str(&format!(
                " ON CONFLICT ({key}) DO UPDATE SET {value} = EXCLUDED.{value}"
            ));
        }
        let delete = format!(
            "DELETE FROM {table} AS t USING unnest($1::text[]) AS d(k) \
             WHERE t.{key} = d.k::{key_type}"
        );
        let prepare = |sql: String| async move {
            client
                .prepare(&sql)
                .await
                .map_err(|err| self.error(&format!("prepare `{sql}`"), &err))
        };
        Ok(Table {
            value_is_json: matches!(value_type, "json" | "jsonb"),
            write: prepare(write).await?,
            delete: prepare(delete).await?,
            name,
        })
    }

    /// The columns of table `name` with their types (without modifiers); none when the
    /// table does not exist.
    async fn columns(
        &self,
        client: &Client,
        name: &str,
    ) -> Result<Vec<(String, String)>, ConnectError> {
        let rows = client
            .query(
                "SELECT a.attname::text, format_type(a.atttypid, NULL) \
                 FROM pg_attribute a \
                 WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped \
                 ORDER BY a.attnum",
                &[&quote(name)],
            )
            .await
            .map_err(|err| self.error(&format!("read the columns of {}", quote(name)), &err))?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }

    /// What each record does; `Err` refuses the first one that cannot be written.
    fn ops(&self, records: &[SinkRecord]) -> Result<Vec<Op>, ConnectError> {
        let mut ops = Vec::with_capacity(records.len());
        for (index, record) in records.iter().enumerate() {
            let refused = |reason| ConnectError::Refused { index, reason };
            let table = self
                .table_of_topic
                .get(&record.topic)
                .copied()
                .ok_or_else(|| refused(format!("no table for topic {}", record.topic)))?;
            let (key, value) = self
                .row(record, self.tables[table].value_is_json)
                .map_err(refused)?;
            ops.push(Op { table, key, value });
        }
        Ok(ops)
    }

    /// The key and value text of `record` (value `None`: delete the row); `json` when the
    /// value column holds JSON.
    fn row(&self, record: &SinkRecord, json: bool) -> Result<(String, Option<String>), String> {
        let key = match &record.key {
            Data::Null => {
                return Err(
                    "the record has no key, and the PostgreSQL sink writes rows by \
                            key (pk.mode=record_key)"
                        .to_owned(),
                )
            }
            data => text(data, false).map_err(|why| format!("key: {why}"))?,
        };
        let value = match &record.value {
            Data::Null if self.config.delete_enabled => None,
            Data::Null => {
                return Err("a tombstone (null value), and delete.enabled=false: set \
                            delete.enabled=true to delete the key's row"
                    .to_owned())
            }
            data => Some(text(data, json).map_err(|why| format!("value: {why}"))?),
        };
        Ok((key, value))
    }

    /// Writes `records` in one transaction; see the module documentation.
    async fn write(&mut self, records: &[SinkRecord]) -> Result<(), ConnectError> {
        if records.is_empty() {
            return Ok(());
        }
        for record in records {
            self.table_of(&record.topic).await?;
        }
        let ops = self.ops(records)?;
        let context = format!("{}: write a batch of {} records", self.context(), ops.len());
        let upsert = self.config.insert_mode == InsertMode::Upsert;
        let tables = &self.tables;
        let Some(client) = self.client.as_mut() else {
            return Err(not_connected(context));
        };
        let attempt = async {
            match write_batch(client, tables, &ops, upsert, &context).await {
                Err(Fault::Record(reason)) => {
                    tracing::debug!(
                        %context, %reason,
                        "batch refused, writing it one record at a time"
                    );
                    write_one_by_one(client, tables, &ops, &context).await
                }
                Err(Fault::Task(err)) => Err(err),
                Ok(()) => Ok(()),
            }
        };
        let timeout = Duration::from_millis(TRANSACTION_TIMEOUT_MS);
        match tokio::time::timeout(timeout, attempt).await {
            Ok(written) => written,
            Err(_) => {
                // The connection is in an unknown state: drop it; the restarted task
                // connects again.
                self.client = None;
                Err(ConnectError::Database {
                    context,
                    reason: format!("a batch took longer than {TRANSACTION_TIMEOUT_MS} ms"),
                    retriable: true,
                })
            }
        }
    }
}

fn not_connected(context: String) -> ConnectError {
    ConnectError::Database {
        context,
        reason: "not connected".to_owned(),
        retriable: true,
    }
}

/// Writes `ops` in one transaction, a statement per run of same-kind operations on one
/// table.
async fn write_batch(
    client: &mut Client,
    tables: &[Table],
    ops: &[Op],
    upsert: bool,
    context: &str,
) -> Result<(), Fault> {
    let task_fault = |err| Fault::Task(database_error(context, &err));
    let transaction = client.transaction().await.map_err(task_fault)?;
    let same_run = |a: &Op, b: &Op| a.table == b.table && a.value.is_some() == b.value.is_some();
    for run in ops.chunk_by(same_run) {
        let table = &tables[run[0].table];
        let done = if run[0].value.is_some() {
            let rows = if upsert {
                last_per_key(run)
            } else {
                run.iter().collect()
            };
            let keys: Vec<&str> = rows.iter().map(|op| op.key.as_str()).collect();
            let values: Vec<&str> = rows.iter().filter_map(|op| op.value.as_deref()).collect();
            transaction.execute(&table.write, &[&keys, &values]).await
        } else {
            let keys: Vec<&str> = run.iter().map(|op| op.key.as_str()).collect();
            transaction.execute(&table.delete, &[&keys]).await
        };
        if let Err(err) = done {
            return Err(match record_problem(&err) {
                Some(reason) => Fault::Record(reason),
                None => task_fault(err),
            });
        }
    }
    transaction.commit().await.map_err(task_fault)
}

/// Writes `ops` one at a time, each under a savepoint; at the first one the database
/// refuses for its data, commits those before it and answers [`ConnectError::Refused`].
async fn write_one_by_one(
    client: &mut Client,
    tables: &[Table],
    ops: &[Op],
    context: &str,
) -> Result<(), ConnectError> {
    let error = |err| database_error(context, &err);
    let mut transaction = client.transaction().await.map_err(error)?;
    for (index, op) in ops.iter().enumerate() {
        let savepoint = transaction.savepoint("record").await.map_err(error)?;
        let table = &tables[op.table];
        let keys = [op.key.as_str()];
        let written = match &op.value {
            Some(value) => {
                let values = [value.as_str()];
                savepoint
                    .execute(&table.write, &[&&keys[..], &&values[..]])
                    .await
            }
            None => savepoint.execute(&table.delete, &[&&keys[..]]).await,
        };
        match written {
            Ok(_) => savepoint.commit().await.map_err(error)?,
            Err(err) => {
                let Some(reason) = record_problem(&err) else {
                    return Err(error(err));
                };
                savepoint.rollback().await.map_err(error)?;
                transaction.commit().await.map_err(error)?;
                return Err(ConnectError::Refused { index, reason });
            }
        }
    }
    transaction.commit().await.map_err(error)
}

/// The last write of each key of `run`, in the order of those last writes.
fn last_per_key(run: &[Op]) -> Vec<&Op> {
    let last: HashMap<&str, usize> = run
        .iter()
        .enumerate()
        .map(|(i, op)| (op.key.as_str(), i))
        .collect();
    run.iter()
        .enumerate()
        .filter(|(i, op)| last[op.key.as_str()] == *i)
        .map(|(_, op)| op)
        .collect()
}

/// `data` as the text PostgreSQL receives; `json` when the column holds JSON.
fn text(data: &Data, json: bool) -> Result<String, String> {
    let text = match data {
        Data::Null => "null".to_owned(),
        Data::Text(s) if json => serde_json::Value::String(s.clone()).to_string(),
        Data::Text(s) => s.clone(),
        Data::Json(value) => value.to_string(),
        Data::Bytes(bytes) => String::from_utf8(bytes.to_vec())
            .map_err(|_| "not UTF-8 text, which PostgreSQL text columns need".to_owned())?,
    };
    if text.contains('\0') {
        return Err("holds a NUL character, which PostgreSQL text cannot store".to_owned());
    }
    Ok(text)
}

/// The SQLSTATE of `err`, if the server sent one.
fn sqlstate(err: &tokio_postgres::Error) -> Option<&str> {
    err.code().map(|state| state.code())
}

/// Whether trying again later may help: no answer from the server (connection refused,
/// reset, closed), or a SQLSTATE of a connection problem (08), a transaction rolled back for
/// concurrency (40), resources (53), operator intervention such as a shutdown (57), a
/// system error (58) or a lock not available (55P03).
fn retriable(err: &tokio_postgres::Error) -> bool {
    match sqlstate(err) {
        None => true,
        Some(code) => {
            matches!(code.get(..2), Some("08" | "40" | "53" | "57" | "58")) || code == "55P03"
        }
    }
}

/// Why the database refused a statement for its data (SQLSTATE classes 21, 22, 23: a
/// value that does not fit its column, a constraint); `None` for any other error.
fn record_problem(err: &tokio_postgres::Error) -> Option<String> {
    match sqlstate(err).and_then(|code| code.get(..2)) {
        Some("21" | "22" | "23") => Some(describe(err)),
        _ => None,
    }
}

/// A database error, retriable as [`retriable`] says.
fn database_error(context: impl Into<String>, err: &tokio_postgres::Error) -> ConnectError {
    ConnectError::Database {
        context: context.into(),
        reason: describe(err),
        retriable: retriable(err),
    }
}

/// The server's message with its SQLSTATE and detail, or the client's error with its cause.
fn describe(err: &tokio_postgres::Error) -> String {
    if let Some(db) = err.as_db_error() {
        let mut text = format!("{} {}: {}", db.severity(), db.code().code(), db.message());
        if let Some(detail) = db.detail() {
            text.push_str(&format!(" ({detail})"));
        }
        return text;
    }
    match std::error::Error::source(err) {
        Some(cause) => format!("{err}: {cause}"),
        None => err.to_string(),
    }
}

impl Sink for PostgresSink {
    fn start(&mut self) -> BoxFuture<'_, Result<(), ConnectError>> {
        self.open().boxed()
    }

    fn check(&self, record: &SinkRecord) -> Result<(), String> {
        self.row(record, false).map(|_| ())
    }

    fn put<'a>(&'a mut self, records: &'a [SinkRecord]) -> BoxFuture<'a, Result<(), ConnectError>> {
        self.write(records).boxed()
    }

    /// Nothing to do: every `put` committed its transaction.
    fn flush(&mut self) -> BoxFuture<'_, Result<(), ConnectError>> {
        async { Ok(()) }.boxed()
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use serde_json::json;

    use super::super::config::{ClassConfig, ConnectorClass, ConnectorConfig};
    use super::super::properties::parse_properties;
    use super::*;

    fn validate(text: &str) -> Result<ConnectorConfig, ConnectError> {
        ConnectorConfig::validate(parse_properties("pg.properties", text))
    }

    #[test]
    fn jdbc_style_configuration_with_defaults() {
        let config = validate(
            "name=pg\nconnector.class=io.confluent.connect.jdbc.JdbcSinkConnector\n\
             connection.url=jdbc:postgresql://127.0.0.1:5432/db\nconnection.user=eddy\n\
             topics=orders,payments\ntasks.max=2\n",
        )
        .unwrap();
        assert_eq!(config.class, ConnectorClass::PostgresSink);
        assert_eq!(config.task_count(), 2);
        let ClassConfig::PostgresSink(pg) = config.class_config else {
            panic!("not a PostgresSink: {:?}", config.class_config);
        };
        assert_eq!(pg.insert_mode, InsertMode::Upsert);
        assert_eq!(pg.key_column, "key");
        assert!(pg.auto_create && pg.delete_enabled);
        assert_eq!(pg.table_name("orders"), "orders");
        assert_eq!(pg.user.as_deref(), Some("eddy"));
    }

    #[test]
    fn every_faulty_key_is_listed() {
        let err = validate(
            "name=pg\nconnector.class=PostgresSink\ntopics=t\ninsert.mode=update\n\
             pk.mode=kafka\npk.fields=a,b\ntable.name.format=${topic}_{}\n\
             auto.create=maybe\nfile=/tmp/x\n"
                .replace("{}", &"x".repeat(70))
                .as_str(),
        )
        .unwrap_err();
        let ConnectError::InvalidConfig { problems, .. } = &err else {
            panic!("not a validation error: {err}");
        };
        let mut keys: Vec<&str> = problems.0.iter().map(|p| p.key.as_str()).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "auto.create",
                "connection.url",
                "file",
                "insert.mode",
                "pk.fields",
                "pk.mode",
                "table.name.format"
            ],
            "{err}"
        );
    }

    #[test]
    fn a_bad_url_is_reported_without_its_password() {
        let err = validate(
            "name=pg\nconnector.class=PostgresSink\ntopics=t\n\
             connection.url=postgresql://eddy:secret@/db\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("connection.url") && err.contains("no host"),
            "{err}"
        );
        assert!(!err.contains("secret"), "{err}");
        let err = validate(
            "name=pg\nconnector.class=PostgresSink\ntopics=t\n\
             connection.url=postgresql://127.0.0.1/db\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("names no user"), "{err}");
    }

    #[test]
    fn connection_urls() {
        for url in [
            "postgresql://eddy@127.0.0.1:5432/db",
            "jdbc:postgresql://db.example:5433/orders?user=eddy&password=secret",
            "host=127.0.0.1 port=5432 user=eddy dbname=db",
        ] {
            assert!(parse_connection_url(url).is_ok(), "{url}");
        }
        assert!(parse_connection_url("mysql://x").is_err());
        let err = parse_connection_url("user=eddy dbname=db").unwrap_err();
        assert!(err.contains("no host"), "{err}");
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_password("postgresql://eddy:secret@h:1/db?x=1"),
            "postgresql://eddy:****@h:1/db?x=1"
        );
        assert_eq!(
            redact_password("postgresql://eddy@h/db"),
            "postgresql://eddy@h/db"
        );
        assert_eq!(
            redact_password("host=h password=secret user=u"),
            "host=h password=**** user=u"
        );
    }

    #[test]
    fn text_of_data() {
        assert_eq!(text(&Data::Text("a".into()), false).unwrap(), "a");
        assert_eq!(text(&Data::Text("a".into()), true).unwrap(), "\"a\"");
        assert_eq!(
            text(&Data::Json(json!({"n": 1})), false).unwrap(),
            r#"{"n":1}"#
        );
        assert!(text(&Data::Bytes(Bytes::from_static(b"\xff")), false).is_err());
        assert!(text(&Data::Text("a\0b".into()), false).is_err());
    }

    #[test]
    fn upsert_runs_keep_the_last_write_of_each_key() {
        let op = |key: &str, value: &str| Op {
            table: 0,
            key: key.to_owned(),
            value: Some(value.to_owned()),
        };
        let run = [op("a", "1"), op("b", "1"), op("a", "2"), op("c", "1")];
        let kept: Vec<(&str, &str)> = last_per_key(&run)
            .iter()
            .map(|op| (op.key.as_str(), op.value.as_deref().unwrap()))
            .collect();
        assert_eq!(kept, [("b", "1"), ("a", "2"), ("c", "1")]);
    }

    #[test]
    fn identifiers() {
        assert_eq!(quote(r#"my "table""#), r#""my ""table""""#);
        assert_eq!(literal("it's"), "'it''s'");
        assert!(identifier_problem("orders").is_none());
        assert!(identifier_problem(&"x".repeat(64)).is_some());
        assert!(identifier_problem("").is_some());
    }
}

//! `GET /health` as `clearing serve` assembles it: the database through a bounded query, the batcher's tasks, and
//! the indexer (a real one on anvil) watched beside them.

use std::net::SocketAddr;

use axum::{
    Router,
    body::Body,
    extract::ConnectInfo,
    http::{Request, Response},
};
use clearing_facilitator::{Facilitator, FacilitatorConfig, SettleSetup};
use clearing_indexer::IndexerConfig;
use clearing_ledger::Ledger;
use clearing_testkit::TestDatabase;
use serde_json::{Value, json};
use sqlx::postgres::PgPoolOptions;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::{oneshot, watch},
};
use tower::ServiceExt;

use crate::{harness::json_of, support::Env};

/// A settling facilitator on `env`'s chain whose queue is `ledger`.
async fn facilitator(env: &Env, ledger: Ledger) -> Facilitator {
    let config = FacilitatorConfig::default();
    let setup = SettleSetup {
        ledger,
        relayer: env.relayer_key.clone(),
        batch_settler: env.chain.deployment.batch_settler,
        escrow: None,
        vault: None,
        subscriptions: None,
        assets: vec![env.chain.token],
    };
    let reader = clearing_chain::connect(&env.chain.endpoint()).unwrap();
    Facilitator::new(reader.clone(), vec![env.relayer_key.address()], &config)
        .await
        .unwrap()
        .with_settlement(reader, setup, &config)
        .await
        .unwrap()
}

async fn get_health(router: &Router) -> (u16, Value) {
    let mut request = Request::get("/health").body(Body::empty()).unwrap();
    request.extensions_mut().insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
    let response: Response<Body> = router.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    (status, json_of(response).await)
}

#[tokio::test]
async fn a_stopped_indexer_turns_health_to_503_naming_it() {
    let database = TestDatabase::create("a_stopped_indexer_turns_health_to_503_na").await;
    let pool = database.pool();
    let env = Env::new(pool).await;
    let config = IndexerConfig { confirmations: Some(0), ..IndexerConfig::default() };
    let indexer = env.chain.indexer_through(&env.chain.endpoint(), &env.ledger, &config).await;
    let (stop, stopped) = oneshot::channel::<()>();
    let indexer = tokio::spawn(async move { indexer.run(async move { stopped.await.unwrap_or_default() }).await });

    let facilitator = facilitator(&env, env.ledger.clone()).await.watching("indexer", [indexer.abort_handle()]);
    let router = facilitator.router(&FacilitatorConfig::default());
    let (status, body) = get_health(&router).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ok");
    assert_eq!(body["parts"], json!({"batcher": "ok", "database": "ok", "indexer": "ok"}));
    assert_eq!(body["down"], json!([]));

    stop.send(()).unwrap();
    indexer.await.unwrap().unwrap();
    let (status, body) = get_health(&router).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["parts"]["indexer"], "stopped");
    assert_eq!(body["down"], json!(["indexer"]), "only the indexer is down");

    // The batcher's tasks are watched the same way: once it stops, it is named too.
    facilitator.shutdown().await;
    let (status, body) = get_health(&router).await;
    assert_eq!(status, 503);
    assert_eq!(body["down"], json!(["batcher", "indexer"]), "{body}");
}

#[tokio::test]
async fn a_frozen_database_turns_health_to_503_without_waiting_for_it() {
    let database = TestDatabase::create("a_frozen_database_turns_health_to_503_wi").await;
    let pool = database.pool();
    let env = Env::new(pool.clone()).await;
    // The facilitator reaches PostgreSQL through a proxy that can stop forwarding: a server that accepts and never
    // answers, as a stopped (SIGSTOP) or wedged PostgreSQL does.
    let postgres = (pool.connect_options().get_host().to_owned(), pool.connect_options().get_port());
    let (proxy, freeze) = FreezingProxy::start(postgres).await;
    let options = pool.connect_options().as_ref().clone().host("127.0.0.1").port(proxy.port());
    let through_proxy = PgPoolOptions::new().max_connections(4).connect_with(options).await.unwrap();
    let facilitator = facilitator(&env, Ledger::from_pool(through_proxy)).await;
    let router = facilitator.router(&FacilitatorConfig::default());
    let (status, body) = get_health(&router).await;
    assert_eq!((status, &body["parts"]["database"]), (200, &json!("ok")), "{body}");

    freeze.send(true).unwrap();
    // Without a bound the check would wait for the frozen server until the request timeout (30 s, answered 408).
    let (status, body) = get_health(&router).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["parts"]["database"], "timeout");
    assert_eq!(body["down"], json!(["database"]));
}

/// A TCP proxy to PostgreSQL that forwards until frozen, then holds every byte for ever.
struct FreezingProxy {
    address: SocketAddr,
}

impl FreezingProxy {
    async fn start(postgres: (String, u16)) -> (Self, watch::Sender<bool>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (freeze, frozen) = watch::channel(false);
        tokio::spawn(async move {
            loop {
                let (client, _) = listener.accept().await.unwrap();
                let server = TcpStream::connect((postgres.0.as_str(), postgres.1)).await.unwrap();
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                tokio::spawn(forward(client_read, server_write, frozen.clone()));
                tokio::spawn(forward(server_read, client_write, frozen.clone()));
            }
        });
        (Self { address }, freeze)
    }

    fn port(&self) -> u16 {
        self.address.port()
    }
}

async fn forward(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    frozen: watch::Receiver<bool>,
) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let read = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => read,
        };
        if *frozen.borrow() {
            // Frozen: the bytes go nowhere, and the connection stays open.
            std::future::pending::<()>().await;
        }
        if to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}

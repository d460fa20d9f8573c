//! A training-API SDK over real HTTP on loopback: a fake training server (tiny_http), and a
//! client whose calls start at once, submit in call order, retry their submission and poll for
//! the result in the background, as the seed's SDK does. Used blocking from a plain thread and
//! with `.await` under smol, with faults injected on the way (a 429 with a Retry-After hint, a
//! 503, a connection closed after the server accepted the request), a paused server queue the
//! caller can see, and a measurement of what pipelining a step's two calls is worth, for each
//! transport (async: hyper over async-io on apifuture's background executor; blocking: ureq on
//! its pool).
//!
//! Run it with `cargo run -p training-api --example training_client` (or `-- 50` for 50 training steps in the
//! pipelining measurement; 10 by default).

use training_api::{client, server};

use std::time::{Duration, Instant};

use apifuture::{ApiFuture, RetryPolicy};
use client::{ApiError, Call, TrainingClient};
use server::{Fault, TrainingServer};

type Outcome = Result<serde_json::Value, apifuture::Error<ApiError>>;

const LONG: Duration = Duration::from_secs(30);

fn report(call: &Call, outcome: &Outcome) {
    println!(
        "  #{} {:<17} {:>2} submit attempt(s), {:>2} poll(s), {:>6.1} ms: {}",
        call.seq(),
        call.kind(),
        call.submit_attempts(),
        call.polls(),
        call.elapsed().as_secs_f64() * 1e3,
        match outcome {
            Ok(value) => value.to_string(),
            Err(error) => format!("error: {error}"),
        }
    );
}

fn inject_faults(server: &TrainingServer) {
    server.inject(
        server::FORWARD_BACKWARD,
        Fault::TooManyRequests {
            retry_after_secs: None,
            retry_after_ms: Some(100),
        },
    );
    server.inject(server::FORWARD_BACKWARD, Fault::Status(503));
    server.inject(server::OPTIM_STEP, Fault::CloseAfterAccept);
}

/// Runs `steps` training steps blocking: both calls of a step made back to back and then
/// waited on (`pipelined`), or each call waited on before the next is made.
fn steps_blocking(client: &TrainingClient, steps: usize, pipelined: bool) -> Duration {
    let started = Instant::now();
    for step in 0..steps {
        let batch = [step as f64, 1.0];
        if pipelined {
            let mut forward = client.forward_backward(&batch);
            let mut optim = client.optim_step(1e-3);
            forward.result(LONG).expect("forward_backward");
            optim.result(LONG).expect("optim_step");
        } else {
            client
                .forward_backward(&batch)
                .result(LONG)
                .expect("forward_backward");
            client.optim_step(1e-3).result(LONG).expect("optim_step");
        }
    }
    started.elapsed()
}

/// The same steps with `.await` under smol.
fn steps_async(client: &TrainingClient, steps: usize, pipelined: bool) -> Duration {
    smol::block_on(async {
        let started = Instant::now();
        for step in 0..steps {
            let batch = [step as f64, 1.0];
            if pipelined {
                let forward = client.forward_backward(&batch);
                let optim = client.optim_step(1e-3);
                forward.await.expect("forward_backward");
                optim.await.expect("optim_step");
            } else {
                client
                    .forward_backward(&batch)
                    .await
                    .expect("forward_backward");
                client.optim_step(1e-3).await.expect("optim_step");
            }
        }
        started.elapsed()
    })
}

/// Runs the four pipelining measurements on `client` and prints them.
fn pipelining(transport: &str, client: &TrainingClient, steps: usize) {
    let sequential = steps_blocking(client, steps, false);
    let pipelined = steps_blocking(client, steps, true);
    let sequential_async = steps_async(client, steps, false);
    let pipelined_async = steps_async(client, steps, true);
    println!("  {transport}:");
    for (mode, one_at_a_time, back_to_back) in [
        ("blocking", sequential, pipelined),
        (".await", sequential_async, pipelined_async),
    ] {
        println!(
            "    {mode:<8} one call at a time {:>7.1} ms, both calls back to back {:>7.1} ms: {:.2}x",
            one_at_a_time.as_secs_f64() * 1e3,
            back_to_back.as_secs_f64() * 1e3,
            one_at_a_time.as_secs_f64() / back_to_back.as_secs_f64()
        );
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let steps: usize = match std::env::args().nth(1) {
        Some(arg) => arg
            .parse()
            .map_err(|_| format!("not a step count: {arg:?}"))?,
        None => 10,
    };
    let server = TrainingServer::start();
    let policy = RetryPolicy::new()
        .with_initial_delay(Duration::from_millis(20))
        .with_max_delay(Duration::from_millis(200))
        .with_deadline(Duration::from_secs(20));
    let client = TrainingClient::new(&server.base_url(), policy.clone(), Duration::from_secs(2))
        // The loopback server holds a poll 50 ms, and answers within a millisecond otherwise.
        .with_long_poll_floor(Duration::from_millis(20))
        .on_queue_state(Duration::from_millis(100), |update| {
            println!(
                "  #{} {} is waiting: server queue {} ({} polls, {:.0} ms)",
                update.seq,
                update.kind,
                update.queue_state,
                update.polls,
                update.elapsed.as_secs_f64() * 1e3
            )
        });

    println!("-- blocking, from a plain thread, with faults injected");
    inject_faults(&server);
    // Pipelined as the seed's users do: both are in flight before either is waited on; the
    // optim_step's submission waits for the forward_backward's, which is retried twice.
    let mut forward = client.forward_backward(&[0.5, -1.0, 2.0]);
    let mut step = client.optim_step(1e-3);
    for call in [&mut forward, &mut step] {
        let outcome = call.result(LONG);
        report(call, &outcome);
        outcome?;
    }

    println!("-- async, .await under smol, with faults injected");
    inject_faults(&server);
    smol::block_on(async {
        let mut forward = client.forward_backward(&[1.0, 2.0]);
        let mut step = client.optim_step(2e-3);
        for call in [&mut forward, &mut step] {
            let outcome = call.result_async(LONG).await;
            report(call, &outcome);
            outcome?;
        }
        Ok::<_, Box<dyn std::error::Error>>(())
    })?;

    println!("-- a server whose queue is paused for capacity for 400 ms");
    server.set_queue_state("paused_capacity");
    let mut forward = client.forward_backward(&[3.0]);
    std::thread::sleep(Duration::from_millis(400));
    server.set_queue_state("active");
    let outcome = forward.result(LONG);
    report(&forward, &outcome);
    outcome?;

    println!(
        "-- pipelining: {steps} training steps of two calls, the server taking {} ms a job",
        server::PIPELINE_WORK_TIME.as_millis()
    );
    server.set_work_time(server::PIPELINE_WORK_TIME);
    pipelining("async transport", &client, steps);
    // The blocking transport, against a server of its own (each checks its own order below).
    let blocking_server = TrainingServer::start();
    blocking_server.set_work_time(server::PIPELINE_WORK_TIME);
    let blocking_client =
        TrainingClient::new_blocking(&blocking_server.base_url(), policy, Duration::from_secs(2))
            .with_long_poll_floor(Duration::from_millis(20));
    pipelining("blocking transport (ureq)", &blocking_client, steps);
    assert_eq!(blocking_server.total_jobs_run(), 4 * 2 * steps);

    let accepted = server.accepted();
    // Five calls above, then two a step in each of the four runs.
    let calls = 5 + 4 * 2 * steps;
    println!(
        "jobs run: {} for {calls} calls; the server accepted the submissions in call order: {}",
        server.total_jobs_run(),
        accepted.windows(2).all(|pair| pair[0].1 < pair[1].1)
    );
    assert_eq!(
        server.total_jobs_run(),
        calls,
        "a retried submission ran twice"
    );
    assert_eq!(accepted.len(), calls);
    assert!(
        accepted.iter().map(|(_, seq)| *seq).eq(1..=calls as u64),
        "out of order"
    );
    Ok(())
}

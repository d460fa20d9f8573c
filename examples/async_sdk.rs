//! An SDK call written once in async code (a TCP round trip on async-io, with a time budget)
//! and exposed through `spawn_async`: a plain thread blocks on it, async code under smol awaits
//! it.
//!
//! Run it with `cargo run --example async_sdk`.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use apifuture::{ApiFuture, AwaitableConcurrentFuture, spawn_async};
use async_io::{Async, Timer};
use futures_lite::{AsyncReadExt, AsyncWriteExt, FutureExt};

/// A stand-in for the remote service, on loopback: answers each of `connections` connections
/// with what it sent, upper-cased, then stops.
fn serve(connections: usize) -> io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    thread::spawn(move || {
        for stream in listener.incoming().take(connections) {
            let mut stream = stream?;
            let mut request = String::new();
            stream.read_to_string(&mut request)?;
            stream.write_all(request.to_uppercase().as_bytes())?;
        }
        io::Result::Ok(())
    });
    Ok(addr)
}

/// The SDK call: returns at once; the request runs on the crate's background executor thread.
fn shout(addr: SocketAddr, text: &str) -> AwaitableConcurrentFuture<String, io::Error> {
    let text = text.to_owned();
    spawn_async(async move {
        let round_trip = async {
            let mut stream = Async::<TcpStream>::connect(addr).await?;
            stream.write_all(text.as_bytes()).await?;
            stream.get_ref().shutdown(Shutdown::Write)?;
            let mut reply = String::new();
            stream.read_to_string(&mut reply).await?;
            Ok(reply)
        };
        let budget = async {
            Timer::after(Duration::from_secs(5)).await;
            Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "no reply within 5 s",
            ))
        };
        round_trip.or(budget).await
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = serve(3)?;

    // A blocking caller in a plain thread, with a timeout.
    let caller =
        thread::spawn(move || shout(addr, "hello from a thread").result(Duration::from_secs(10)));
    let reply = caller.join().expect("the calling thread panicked")?;
    println!("blocking caller: {reply}");

    // An async caller under smol. Both requests are in flight before the first await.
    smol::block_on(async {
        let first = shout(addr, "hello");
        let second = shout(addr, "from smol");
        println!("async caller: {:?} and {:?}", first.await?, second.await?);
        Ok(())
    })
}

/// A TCP relay between a store and its PostgreSQL server that a test can cut and restore, to lose
/// the connection for real: every open connection is dropped, and new ones are closed on arrival.
module Hybrid.Tests.Proxy

open System
open System.Collections.Concurrent
open System.Net
open System.Net.Sockets
open System.Threading.Tasks

type Relay(target: IPEndPoint) =
    let listener = new TcpListener(IPAddress.Loopback, 0)
    let open' = ConcurrentDictionary<TcpClient, bool>()
    let mutable cut = false
    let mutable refused = 0

    let pump (client: TcpClient) = task {
        use server = new TcpClient()
        do! server.ConnectAsync(target)
        open'[server] <- true
        let a, b = client.GetStream(), server.GetStream()
        let! _ = Task.WhenAny(a.CopyToAsync b, b.CopyToAsync a)
        client.Close()
        open'.TryRemove server |> ignore
    }

    let rec accept () = task {
        let! client = listener.AcceptTcpClientAsync()

        if cut then
            Threading.Interlocked.Increment &refused |> ignore
            client.Close()
        else
            open'[client] <- true
            pump client |> ignore

        return! accept ()
    }

    do
        listener.Start()
        accept () |> ignore

    member _.Port = (listener.LocalEndpoint :?> IPEndPoint).Port

    /// Drops every connection, and closes new ones at once, until `Restore`.
    member _.Cut() =
        cut <- true

        for c in open'.Keys do
            c.Close()

        open'.Clear()

    member _.Restore() = cut <- false

    /// Connections closed on arrival while cut: each one an attempt to reach the server.
    member _.Refused = Threading.Volatile.Read &refused

    interface IDisposable with
        member this.Dispose() =
            this.Cut()
            listener.Stop()

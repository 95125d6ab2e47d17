/// `Sweep.verify` must see a difference when there is one: a stored trial altered by one bit (a
/// weight of its model, a metric of one epoch) re-runs to other bits, and verify says what differs.
module Hybrid.Tests.VerifyTests

open System
open System.IO
open Expecto
open Microsoft.Data.Sqlite
open Hybrid

let private sweep =
    let iris = {
        Name = "iris"
        Split =
            Dataset.iris ()
            |> Dataset.split { Train = 0.7; Validation = 0.15; Test = 0.15 } 42UL
    }

    {
        Sweep.create "verify" iris with
            Base = { Settings.defaults with Epochs = 4; Patience = None }
            Seeds = [ 0UL ]
    }

let private execute (database: string) (sql: string) (parameters: (string * objnull) list) : objnull =
    use connection =
        new SqliteConnection(sprintf "Data Source=%s;Pooling=False" database)

    connection.Open()
    use command = connection.CreateCommand()
    command.CommandText <- sql

    for name, value in parameters do
        command.Parameters.AddWithValue(name, value) |> ignore

    command.ExecuteScalar()

/// The stored model of the trial with the lowest bit of its first weight flipped.
let private flipWeight (database: string) (key: string) =
    let bytes =
        execute database "SELECT state FROM models WHERE trial_key = @key" [ "@key", box key ]
        |> nonNull
        |> unbox<byte[]>

    let model = ModelFile.ofBytes "stored model" bytes
    let parameters = Array.copy model.Parameters
    parameters[0] <- BitConverter.Int32BitsToSingle(BitConverter.SingleToInt32Bits parameters[0] ^^^ 1)

    execute database "UPDATE models SET state = @state WHERE trial_key = @key" [
        "@key", box key
        "@state", box (ModelFile.toBytes { model with Parameters = parameters })
    ]
    |> ignore

/// Epoch 2's stored training loss moved to the next double.
let private nudgeEpoch (database: string) (key: string) =
    let loss =
        execute database "SELECT train_loss FROM epochs WHERE trial_key = @key AND epoch = 2" [ "@key", box key ]
        |> nonNull
        |> unbox<float>

    execute database "UPDATE epochs SET train_loss = @loss WHERE trial_key = @key AND epoch = 2" [
        "@key", box key
        "@loss", box (Math.BitIncrement loss)
    ]
    |> ignore

/// Runs the sweep under a fresh runs folder, alters its one trial, and verifies it.
let private verifiedAfter (alter: string -> string -> unit) =
    let root =
        Path.Combine(Path.GetTempPath(), "hybrid-verify-" + Guid.NewGuid().ToString "N")

    let saved = Environment.GetEnvironmentVariable "HYBRID_RUNS"
    Environment.SetEnvironmentVariable("HYBRID_RUNS", root)

    try
        let outcome = Sweep.run sweep
        let key = outcome.Trials |> List.exactlyOne |> _.Key
        alter outcome.Database key
        let verifications = Sweep.verify 1 sweep
        Expect.equal verifications.Length 1 "one verdict recorded"
        verifications.Head
    finally
        Environment.SetEnvironmentVariable("HYBRID_RUNS", saved)

        if Directory.Exists root then
            Directory.Delete(root, true)

let tests =
    testList "Verify" [
        testCase "an unaltered trial re-runs to the same bits"
        <| fun () ->
            let v = verifiedAfter (fun _ _ -> ())
            Expect.isTrue v.Identical v.Detail
            Expect.stringContains v.Detail "4 epochs of metrics bit-identical" "what was compared"
        testCase "one bit of one stored weight: not identical, the weights named"
        <| fun () ->
            let v = verifiedAfter flipWeight
            Expect.isFalse v.Identical "not identical"
            Expect.stringStarts v.Detail "1 of " "one weight"
            Expect.stringContains v.Detail "weights differ" "names the weights"
        testCase "one bit of one epoch's stored metric: not identical, the epoch named"
        <| fun () ->
            let v = verifiedAfter nudgeEpoch
            Expect.isFalse v.Identical "not identical"
            Expect.equal v.Detail "epoch 2's metrics differ" "names the epoch"
    ]

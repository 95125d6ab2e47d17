/// Hostile files: thousands of mutated real files through every parser of a user's file. The only
/// acceptable outcomes are a parsed data set or an InvalidFileException naming the file; anything
/// else (IndexOutOfRange, OutOfMemory, a hang) is a bug. Seeds are fixed, so a failure reproduces.
/// Issue 13's families are in ModelFileFuzzTests and DataFileFuzzTests; all run in FuzzChild's child processes.
module Hybrid.Tests.FuzzTests

open System
open System.IO
open Expecto
open Microsoft.Data.Sqlite
open Hybrid
open Hybrid.Engine.Model
open Hybrid.Engine.Training
open Hybrid.Tests.Fuzzing

/// Bytes that mean something in stored text: the separators of `Sweep.describe` and of a checkpoint's
/// history, signs, digits, names of numbers, and bytes that are not valid UTF-8 alone.
let private textual =
    Array.append (Text.Encoding.ASCII.GetBytes ";=,-+.eE0123456789NaInfnoetrusFl ") [| 0uy; 255uy; 0xE2uy |]

let private csv (options: Csv.Options) (bytes: byte[]) =
    use reader = new StreamReader(new MemoryStream(bytes))
    Csv.read options "fuzzed.csv" reader |> ignore

/// Where the fuzzed stored values claim to come from; every refusal must name both.
let private store, trial = "runs/x/sweep.db", "trial 0123abcd"

/// Accepts only InvalidFileExceptions that name the store and the trial the text came from.
let private naming (parse: unit -> unit) =
    try
        parse ()
    with :? InvalidFileException as e when not (e.Message.Contains store && e.Message.Contains trial) ->
        failtestf "the error does not name the store and trial: %s" e.Message

let private utf8 (bytes: byte[]) = Text.Encoding.UTF8.GetString bytes

/// Settings as the store keeps them: `Sweep.describe` of every optimizer, skip and schedule, with
/// and without patience, at extreme seeds and numbers.
let private storedSettings =
    [
        Settings.defaults
        {
            Settings.defaults with
                Optimizer = OptimizerKind.Sgd
                Momentum = 0.9
                Nesterov = true
                LearningRate = 0.1
                Patience = None
                Schedule = ScheduleKind.Cosine
                WarmupEpochs = 3
                Seed = UInt64.MaxValue
        }
        {
            Settings.defaults with
                Skip = SkipKind.Diagonal
                Optimizer = OptimizerKind.AdamW
                WeightDecay = 1e-4
                Schedule = ScheduleKind.Step
                Threads = 2
                LearningRate = 1.0 / 3.0
        }
    ]
    |> List.map Sweep.describe

let private parseSettings (bytes: byte[]) = naming (fun () -> Sweep.parseSettings store trial (utf8 bytes) |> ignore)

/// A checkpoint as the store keeps it: three epochs, one without validation figures.
let private storedCheckpoint =
    let metrics e validation =
        EpochMetrics(e, 1.0 / float e, 0.5 + 0.1 * float e, validation, validation, 0.003)

    let history = [|
        metrics 1 (Nullable())
        metrics 2 (Nullable 0.75)
        metrics 3 (Nullable(1.0 / 3.0))
    |]

    TrainingCheckpoint(
        3,
        [| 1.0f; -2.0f; 0.5f |],
        [| 0.1f; 0.2f; 0.3f |],
        [| 0.01f; 0.02f; 0.03f |],
        96L,
        [| 1.0f; -2.0f; 0.25f |],
        2,
        0.4,
        history
    )
    |> Checkpoint.encode

let private decodeCheckpoint (bytes: byte[]) =
    naming (fun () -> Checkpoint.decode (sprintf "%s, %s checkpoint" store trial) bytes |> ignore)

/// Damages the text of one metadata entry of an encoded checkpoint (epoch, steps, history...) and
/// encodes it again, so the mutation reaches the decoder's own parsing rather than the container's.
let private mutateMetadata (rng: Rng) (bytes: byte[]) =
    let checkpoint = Safetensors.ofBytes "original" bytes
    let keys = checkpoint.Metadata |> Map.keys |> Array.ofSeq
    let key = keys[rng.NextInt keys.Length]

    let value =
        Text.Encoding.UTF8.GetBytes checkpoint.Metadata[key]
        |> mutateWith textual rng
        |> utf8

    Safetensors.toBytes { checkpoint with Metadata = checkpoint.Metadata |> Map.add key value }

let private withHistory (history: string) =
    let checkpoint = Safetensors.ofBytes "original" storedCheckpoint

    Safetensors.toBytes { checkpoint with Metadata = checkpoint.Metadata |> Map.add "history" history }

/// The refusal of `parse`, which must name the store, the trial and `problem`.
let private refusal (parse: unit -> unit) (problem: string) =
    let e: InvalidFileException = Common.raised parse
    Expect.stringContains e.Message store "names the store"
    Expect.stringContains e.Message trial "names the trial"
    Expect.stringContains e.Message problem "names the problem"

/// Inputs the fuzzers found crashing (a raw FormatException or IndexOutOfRangeException), kept as cases.
let private regressionTests =
    testList "regressions" [
        testCase "checkpoint history with a number that is no integer (fuzz seed 20, mutation 89)"
        <| fun () ->
            refusal
                (fun () -> decodeCheckpoint (withHistory "4607182-18800017408,0,0,0,0,0"))
                "malformed checkpoint metadata"
        testCase "checkpoint history with a sign inside a number (fuzz seed 21, mutation 3)"
        <| fun () ->
            refusal
                (fun () -> decodeCheckpoint (withHistory "-f2251799813685248,0,0,0,0,0"))
                "malformed checkpoint metadata"
        testCase "checkpoint history row with too few fields"
        <| fun () -> refusal (fun () -> decodeCheckpoint (withHistory "1,2")) "malformed checkpoint metadata"
        testCase "settings with an unreadable value (an ArgumentException before)"
        <| fun () ->
            refusal
                (fun () -> parseSettings (Text.Encoding.UTF8.GetBytes(storedSettings[0].Replace("M=64", "M=6x4"))))
                "field 'M' has the unreadable value '6x4'"
        testCase "settings with a field missing"
        <| fun () ->
            refusal
                (fun () -> parseSettings (Text.Encoding.UTF8.GetBytes(storedSettings[0].Replace("lr=", "rate="))))
                "missing field 'lr'"
        testCase "settings with a part that is not key=value"
        <| fun () ->
            refusal
                (fun () -> parseSettings (Text.Encoding.UTF8.GetBytes(storedSettings[0] + ";oops")))
                "'oops' is not key=value"
    ]

/// The run store's cells that Store.results parses: (table, column), each naming its trial's key column.
let private storedCells = [
    "trials", "stop", "key"
    "trials", "started_utc", "key"
    "trials", "finished_utc", "key"
    "trials", "validation_loss", "key"
    "sweep_trials", "values_json", "key"
    "epochs", "train_loss", "trial_key"
]

/// A real run store: a registered sweep over two widths, one trial finished with two epochs; the
/// body gets the file, a connection to edit it, and for each cell of `storedCells` (table, column,
/// key column, key, text, value).
let private withStoredSweep
    (body: string -> SqliteConnection -> (string * string * string * string * string * objnull) list -> unit)
    =
    let folder =
        Path.Combine(Path.GetTempPath(), "hybrid-store-fuzz-" + Guid.NewGuid().ToString "N")

    try
        let sweep = {
            Sweep.create "fuzz" {
                Name = "iris"
                Split =
                    Dataset.iris ()
                    |> Dataset.split { Train = 0.6; Validation = 0.2; Test = 0.2 } 1UL
            } with
                Base = { Settings.defaults with Epochs = 2 }
                Space = [ M, ints [ 4; 8 ] ]
                Strategy = Strategy.Grid 1
                Seeds = [ 0UL ]
        }

        let file = Path.Combine(folder, "sweep.db")
        let trial = Sweep.expand sweep |> List.head

        do
            use store = Store.openAt file
            Store.register store sweep [] |> ignore
            Store.addTrials store sweep.Name (Sweep.expand sweep)

            let claim =
                Store.claimNext store sweep.Name Worker.current (TimeSpan.FromHours 1.0)
                |> Option.get

            let history = [
                EpochMetrics(1, 1.0, 0.5, Nullable 0.9, Nullable 0.6, 0.003)
                EpochMetrics(2, 0.8, 0.7, Nullable 0.7, Nullable 0.8, 0.003)
            ]

            let result = {
                Trial = trial
                Status = Completed
                Reason = ""
                History = history
                Stop = StopReason.Completed
                KeptEpoch = 2
                ValidationLoss = 0.7
                ValidationAccuracy = 0.8
                TestLoss = 0.75
                TestAccuracy = 0.78
                Seconds = 1.5
            }

            Store.finish store claim result None |> ignore

        use connection = new SqliteConnection(sprintf "Data Source=%s;Pooling=False" file)
        connection.Open()
        // Thousands of edits of a scratch database: durability would only cost time.
        do
            use fast = connection.CreateCommand()
            fast.CommandText <- "PRAGMA synchronous = OFF"
            fast.ExecuteNonQuery() |> ignore

        let cell (table, column, keyColumn) =
            use read = connection.CreateCommand()

            read.CommandText <-
                sprintf "SELECT CAST(%s AS TEXT), %s FROM %s WHERE %s = @key LIMIT 1" column column table keyColumn

            read.Parameters.AddWithValue("@key", trial.Key) |> ignore
            use r = read.ExecuteReader()
            r.Read() |> ignore
            table, column, keyColumn, trial.Key, r.GetString 0, r.GetValue 1

        body file connection (storedCells |> List.map cell)
    finally
        if Directory.Exists folder then
            Directory.Delete(folder, true)

/// Replaces one stored cell, as a damaged or hand-edited database would hold it.
let private storeCell (connection: SqliteConnection) (table, column, keyColumn, key: string) (value: objnull) =
    use update = connection.CreateCommand()
    update.CommandText <- sprintf "UPDATE %s SET %s = @value WHERE %s = @key" table column keyColumn
    update.Parameters.AddWithValue("@value", value) |> ignore
    update.Parameters.AddWithValue("@key", key) |> ignore
    update.ExecuteNonQuery() |> ignore

/// JSON's and timestamps' punctuation besides the textual bytes.
let private storeAlphabet = Array.append textual "[]\"{}:TZ"B

/// Damages one parsed cell at a time, reads the sweep's results, restores the cell; returns how many were refused.
let private fuzzStore
    (file: string)
    (connection: SqliteConnection)
    (cells: (string * string * string * string * string * objnull) list)
    =
    let rng = Rng 30UL
    use store = Store.openAt file
    let mutable refused = 0

    for i in 1..mutations do
        let table, column, keyColumn, key, text, original = cells[rng.NextInt cells.Length]

        let damaged =
            Text.Encoding.UTF8.GetBytes text |> mutateWith storeAlphabet rng |> utf8

        storeCell connection (table, column, keyColumn, key) damaged
        let case = sprintf "mutation %d (seed 30) of %s.%s to %A" i table column damaged

        match guarded case (fun () -> Store.results store "fuzz") with
        | Error e when e.File = file && e.Location = "trial " + key -> refused <- refused + 1
        | Error e -> failtestf "%s: the refusal does not name the store and the trial: %s" case e.Message
        | Ok _ -> ()

        storeCell connection (table, column, keyColumn, key) original

    refused

/// One damaged cell the fuzzer found escaping Store.results as a raw exception, kept as a case.
let private damagedCell (name: string) (table: string) (column: string) (value: string) =
    testCase (sprintf "run store: %s.%s = %A (%s before)" table column value name)
    <| fun () ->
        withStoredSweep (fun file connection cells ->
            let _, _, keyColumn, key, _, _ =
                cells |> List.find (fun (t, c, _, _, _, _) -> t = table && c = column)

            storeCell connection (table, column, keyColumn, key) value
            use store = Store.openAt file

            match Expect.throwsC (fun () -> Store.results store "fuzz" |> ignore) id with
            | :? InvalidFileException as e ->
                Expect.equal e.File file "names the store"
                Expect.equal e.Location ("trial " + key) "names the trial"
            | e -> failtestf "expected an InvalidFileException, got %s: %s" (e.GetType().Name) e.Message)

let private storeRegressionTests =
    testList "store regressions" [
        damagedCell "ArgumentException" "trials" "stop" "Complet\"d"
        damagedCell "FormatException" "trials" "started_utc" "2027-11-28T18T14:47:03.7481277Z"
        damagedCell "FormatException" "trials" "finished_utc" "2E26-11-28T1<:45:03.7619223Z"
        damagedCell "Exception from failwith" "trials" "validation_loss" "0=7"
        damagedCell "Exception from failwith" "epochs" "train_loss" ""
        damagedCell "JsonException" "sweep_trials" "values_json" ""
        damagedCell "InvalidOperationException" "sweep_trials" "values_json" "1"
        damagedCell "IndexOutOfRangeException" "sweep_trials" "values_json" "[[]]"
    ]

let storedText =
    testList "stored text" [
        storeRegressionTests
        regressionTests
        for i, text in List.indexed storedSettings do
            testCase (sprintf "settings: mutated describe text %d" i)
            <| fun () ->
                let refused =
                    fuzzWith (mutateWith textual) (10UL + uint64 i) (Text.Encoding.UTF8.GetBytes text) parseSettings

                Expect.isGreaterThan refused (mutations / 4) "most damage is noticed"
        testCase "checkpoint: mutated blob bytes"
        <| fun () -> fuzz 20UL storedCheckpoint decodeCheckpoint |> ignore
        testCase "run store: mutated cells that reading results parses"
        <| fun () -> withStoredSweep (fun file connection cells -> fuzzStore file connection cells |> ignore)
        testCase "checkpoint: mutated metadata text"
        <| fun () ->
            let refused = fuzzWith mutateMetadata 21UL storedCheckpoint decodeCheckpoint
            Expect.isGreaterThan refused (mutations / 4) "most damage is noticed"
    ]

let files =
    testList "data files" [
        testCase "CSV: mutated iris.csv"
        <| fun () ->
            let refused =
                fuzz 1UL (shipped "iris.csv") (csv { Csv.defaults with Header = true })

            Expect.isGreaterThan refused (mutations / 4) "most damage is noticed"
        testCase "CSV with numeric labels: mutated wine_data.csv"
        <| fun () ->
            fuzz 2UL (shipped "wine_data.csv") (csv { Csv.defaults with Labels = Csv.Indices(Some 3) })
            |> ignore
        testCase "CSV, gzip: mutated compressed iris"
        <| fun () ->
            let refused =
                fuzz
                    3UL
                    (gzip (shipped "iris.csv"))
                    (loadCsv { Csv.defaults with SkipLines = 1; Header = false } >> ignore)

            Expect.isGreaterThan refused (mutations / 2) "damage to compressed data is almost always noticed"
        testCase "IDX images: mutated headers and bodies"
        <| fun () ->
            let images, labels = idxPair ()
            let refused = fuzz 4UL images (fun bytes -> loadIdx bytes labels |> ignore)
            Expect.isGreaterThan refused (mutations / 4) "most damage is noticed"
        testCase "IDX labels, gzip: mutated compressed labels"
        <| fun () ->
            let images, labels = idxPair ()
            let refused = fuzz 5UL (gzip labels) (fun bytes -> loadIdx images bytes |> ignore)
            Expect.isGreaterThan refused (mutations / 2) "damage to compressed data is almost always noticed"
    ]

/// Hostile files: thousands of mutated real files through every parser of a user's file. The only
/// acceptable outcomes are a parsed data set or an InvalidFileException naming the file; anything
/// else (IndexOutOfRange, OutOfMemory, a hang) is a bug. Seeds are fixed, so a failure reproduces.
module Hybrid.Tests.FuzzTests

open System
open System.IO
open System.IO.Compression
open Expecto
open Hybrid
open Hybrid.Engine.Model
open Hybrid.Engine.Training

let private mutations = 2000

/// Bytes that mean something to a parser: separators, quotes, signs, digits, NaN, NUL, 0xFF and UTF-8 lead bytes.
let private structural = Array.append (Text.Encoding.ASCII.GetBytes ",\n\r\"-+.eE0123456789NaInf") [| 0uy; 255uy; 0xE2uy; 0xC3uy |]

/// Bytes that mean something in stored text: the separators of `Sweep.describe` and of a checkpoint's
/// history, signs, digits, names of numbers, and bytes that are not valid UTF-8 alone.
let private textual = Array.append (Text.Encoding.ASCII.GetBytes ";=,-+.eE0123456789NaInfnoetrusFl ") [| 0uy; 255uy; 0xE2uy |]

/// One random damage to a copy of the bytes: flipped bits, overwritten bytes, a truncation, an
/// insertion of structural characters, or a duplicated chunk.
let private mutateWith (alphabet: byte[]) (rng: Rng) (original: byte[]) : byte[] =
    let bytes = ResizeArray original
    let at () = if bytes.Count = 0 then 0 else rng.NextInt bytes.Count
    for _ in 0 .. rng.NextInt 4 do
        match rng.NextInt 5 with
        | 0 when bytes.Count > 0 -> let i = at () in bytes[i] <- bytes[i] ^^^ byte (1 <<< rng.NextInt 8)
        | 1 when bytes.Count > 0 -> bytes[at ()] <- alphabet[rng.NextInt alphabet.Length]
        | 2 when bytes.Count > 0 ->
            let i = at ()
            bytes.RemoveRange(i, min (bytes.Count - i) (1 + rng.NextInt 64))
        | 3 -> bytes.Insert(at (), alphabet[rng.NextInt alphabet.Length])
        | _ when bytes.Count > 8 ->
            let i = at ()
            let n = min 32 (bytes.Count - i)
            bytes.InsertRange(at (), bytes.GetRange(i, n))
        | _ -> ()
    bytes.ToArray()

let private mutate = mutateWith structural

/// Runs `parse` on every mutation; returns how many were refused (the rest parsed).
let private fuzzWith (mutate: Rng -> byte[] -> byte[]) (seed: uint64) (original: byte[]) (parse: byte[] -> unit) =
    let rng = Rng seed
    let mutable refused = 0
    for i in 1..mutations do
        let input = mutate rng original
        try parse input
        with
        | :? InvalidFileException -> refused <- refused + 1
        | e -> failtestf "mutation %d (seed %d) escaped as %s: %s" i seed (e.GetType().Name) e.Message
    refused

let private fuzz = fuzzWith mutate

let private shipped name = File.ReadAllBytes(Path.Combine(__SOURCE_DIRECTORY__, "..", "..", "src", "Hybrid", "Data", name))

let private csv (options: Csv.Options) (bytes: byte[]) =
    use reader = new StreamReader(new MemoryStream(bytes))
    Csv.read options "fuzzed.csv" reader |> ignore

let private gzip (bytes: byte[]) =
    use output = new MemoryStream()
    do
        use zip = new GZipStream(output, CompressionLevel.Fastest)
        zip.Write(bytes, 0, bytes.Length)
    output.ToArray()

/// A small valid IDX pair: 20 images of 4×3 bytes and their labels.
let private idxPair () =
    let header (magic: int) (dims: int list) =
        [| yield! BitConverter.GetBytes(System.Net.IPAddress.HostToNetworkOrder magic)
           for d in dims do yield! BitConverter.GetBytes(System.Net.IPAddress.HostToNetworkOrder d) |]
    let images = Array.append (header 0x00000803 [ 20; 4; 3 ]) (Array.init (20 * 12) byte)
    let labels = Array.append (header 0x00000801 [ 20 ]) (Array.init 20 (fun i -> byte (i % 3)))
    images, labels

let private withIdx (images: byte[]) (labels: byte[]) =
    let dir = Path.Combine(Path.GetTempPath(), "hybrid-fuzz-" + Guid.NewGuid().ToString "N")
    Directory.CreateDirectory dir |> ignore
    try
        let i, l = Path.Combine(dir, "images.idx"), Path.Combine(dir, "labels.idx")
        File.WriteAllBytes(i, images)
        File.WriteAllBytes(l, labels)
        Idx.load i l |> ignore
    finally
        Directory.Delete(dir, true)

/// Where the fuzzed stored values claim to come from; every refusal must name both.
let private store, trial = "runs/x/sweep.db", "trial 0123abcd"

/// Accepts only InvalidFileExceptions that name the store and the trial the text came from.
let private naming (parse: unit -> unit) =
    try parse ()
    with :? InvalidFileException as e when not (e.Message.Contains store && e.Message.Contains trial) ->
        failtestf "the error does not name the store and trial: %s" e.Message

let private utf8 (bytes: byte[]) = Text.Encoding.UTF8.GetString bytes

/// Settings as the store keeps them: `Sweep.describe` of every optimizer, skip and schedule, with
/// and without patience, at extreme seeds and numbers.
let private storedSettings =
    [ Settings.defaults
      { Settings.defaults with Optimizer = OptimizerKind.Sgd; Momentum = 0.9; Nesterov = true; LearningRate = 0.1; Patience = None; Schedule = ScheduleKind.Cosine; WarmupEpochs = 3; Seed = UInt64.MaxValue }
      { Settings.defaults with Skip = SkipKind.Diagonal; Optimizer = OptimizerKind.AdamW; WeightDecay = 1e-4; Schedule = ScheduleKind.Step; Threads = 2; LearningRate = 1.0 / 3.0 } ]
    |> List.map Sweep.describe

let private parseSettings (bytes: byte[]) = naming (fun () -> Sweep.parseSettings store trial (utf8 bytes) |> ignore)

/// A checkpoint as the store keeps it: three epochs, one without validation figures.
let private storedCheckpoint =
    let metrics e validation = EpochMetrics(e, 1.0 / float e, 0.5 + 0.1 * float e, validation, validation, 0.003)
    let history = [| metrics 1 (Nullable()); metrics 2 (Nullable 0.75); metrics 3 (Nullable(1.0 / 3.0)) |]
    TrainingCheckpoint(3, [| 1.0f; -2.0f; 0.5f |], [| 0.1f; 0.2f; 0.3f |], [| 0.01f; 0.02f; 0.03f |], 96L, [| 1.0f; -2.0f; 0.25f |], 2, 0.4, history)
    |> Run.encodeCheckpoint

let private decodeCheckpoint (bytes: byte[]) = naming (fun () -> Run.decodeCheckpoint (sprintf "%s, %s checkpoint" store trial) bytes |> ignore)

/// Damages the text of one metadata entry of an encoded checkpoint (epoch, steps, history...) and
/// encodes it again, so the mutation reaches the decoder's own parsing rather than the container's.
let private mutateMetadata (rng: Rng) (bytes: byte[]) =
    let checkpoint = Safetensors.ofBytes "original" bytes
    let keys = checkpoint.Metadata |> Map.keys |> Array.ofSeq
    let key = keys[rng.NextInt keys.Length]
    let value = Text.Encoding.UTF8.GetBytes checkpoint.Metadata[key] |> mutateWith textual rng |> utf8
    Safetensors.toBytes { checkpoint with Metadata = checkpoint.Metadata |> Map.add key value }

let private withHistory (history: string) =
    let checkpoint = Safetensors.ofBytes "original" storedCheckpoint
    Safetensors.toBytes { checkpoint with Metadata = checkpoint.Metadata |> Map.add "history" history }

/// The refusal of `parse`, which must name the store, the trial and `problem`.
let private refusal (parse: unit -> unit) (problem: string) =
    match Expect.throwsC parse id with
    | :? InvalidFileException as e ->
        Expect.stringContains e.Message store "names the store"
        Expect.stringContains e.Message trial "names the trial"
        Expect.stringContains e.Message problem "names the problem"
    | e -> failtestf "expected an InvalidFileException, got %s: %s" (e.GetType().Name) e.Message

/// Inputs the fuzzers found crashing (a raw FormatException or IndexOutOfRangeException), kept as cases.
let private regressionTests =
    testList "regressions" [
        testCase "checkpoint history with a number that is no integer (fuzz seed 20, mutation 89)" <| fun () ->
            refusal (fun () -> decodeCheckpoint (withHistory "4607182-18800017408,0,0,0,0,0")) "malformed checkpoint metadata"
        testCase "checkpoint history with a sign inside a number (fuzz seed 21, mutation 3)" <| fun () ->
            refusal (fun () -> decodeCheckpoint (withHistory "-f2251799813685248,0,0,0,0,0")) "malformed checkpoint metadata"
        testCase "checkpoint history row with too few fields" <| fun () ->
            refusal (fun () -> decodeCheckpoint (withHistory "1,2")) "malformed checkpoint metadata"
        testCase "settings with an unreadable value (an ArgumentException before)" <| fun () ->
            refusal (fun () -> parseSettings (Text.Encoding.UTF8.GetBytes(storedSettings[0].Replace("M=64", "M=6x4")))) "field 'M' has the unreadable value '6x4'"
        testCase "settings with a field missing" <| fun () ->
            refusal (fun () -> parseSettings (Text.Encoding.UTF8.GetBytes(storedSettings[0].Replace("lr=", "rate=")))) "missing field 'lr'"
        testCase "settings with a part that is not key=value" <| fun () ->
            refusal (fun () -> parseSettings (Text.Encoding.UTF8.GetBytes(storedSettings[0] + ";oops"))) "'oops' is not key=value"
    ]

let private storedTextTests =
    testList "stored text" [
        regressionTests
        for i, text in List.indexed storedSettings do
            testCase (sprintf "settings: mutated describe text %d" i) <| fun () ->
                let refused = fuzzWith (mutateWith textual) (10UL + uint64 i) (Text.Encoding.UTF8.GetBytes text) parseSettings
                Expect.isGreaterThan refused (mutations / 4) "most damage is noticed"
        testCase "checkpoint: mutated blob bytes" <| fun () ->
            fuzz 20UL storedCheckpoint decodeCheckpoint |> ignore
        testCase "checkpoint: mutated metadata text" <| fun () ->
            let refused = fuzzWith mutateMetadata 21UL storedCheckpoint decodeCheckpoint
            Expect.isGreaterThan refused (mutations / 4) "most damage is noticed"
    ]

let tests =
    testList "fuzz" [
        storedTextTests
        testCase "CSV: mutated iris.csv" <| fun () ->
            let refused = fuzz 1UL (shipped "iris.csv") (csv { Csv.defaults with Header = true })
            Expect.isGreaterThan refused (mutations / 4) "most damage is noticed"
        testCase "CSV with numeric labels: mutated wine_data.csv" <| fun () ->
            fuzz 2UL (shipped "wine_data.csv") (csv { Csv.defaults with Labels = Csv.Indices(Some 3) }) |> ignore
        testCase "CSV, gzip: mutated compressed digits" <| fun () ->
            let original = shipped "digits.csv.gz"
            fuzz 3UL original[.. min (original.Length - 1) 4000] (csv { Csv.defaults with Header = false }) |> ignore
        testCase "IDX images: mutated headers and bodies" <| fun () ->
            let images, labels = idxPair ()
            let refused = fuzz 4UL images (fun bytes -> withIdx bytes labels)
            Expect.isGreaterThan refused (mutations / 4) "most damage is noticed"
        testCase "IDX labels, gzip: mutated compressed labels" <| fun () ->
            let images, labels = idxPair ()
            fuzz 5UL (gzip labels) (fun bytes -> withIdx images bytes) |> ignore
    ]

/// What every fuzz test shares: byte mutations from a fixed seed, a watchdog on each case, and the
/// one rule for an outcome: parsed, or refused with an InvalidFileException whose message quotes the
/// input only briefly. The fuzz tests run in a child process under a heap limit (see FuzzChild).
module Hybrid.Tests.Fuzzing

open System
open System.IO
open System.IO.Compression
open System.Threading.Tasks
open Expecto
open Hybrid
open Hybrid.Engine.Model

let mutations = 2000

/// A case takes microseconds; a minute means a hang (the one the outside fuzzer found ran for
/// minutes), even on a machine shared by many test runs.
let private watchdog = TimeSpan.FromMinutes 1.0

/// A refusal quotes the input it refuses in at most a short excerpt (see Excerpt), so its message
/// stays far below this whatever the input's size.
let maxMessage = 1000

/// Bytes that mean something to a parser: separators, quotes, signs, digits, NaN, NUL, 0xFF and UTF-8 lead bytes.
let structural =
    Array.append (Text.Encoding.ASCII.GetBytes ",\n\r\"-+.eE0123456789NaInf") [| 0uy; 255uy; 0xE2uy; 0xC3uy |]

/// One random damage to a copy of the bytes: flipped bits, overwritten bytes, a truncation, an
/// insertion of structural characters, or a duplicated chunk.
let mutateWith (alphabet: byte[]) (rng: Rng) (original: byte[]) : byte[] =
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

let mutate = mutateWith structural

/// Runs `parse` under the watchdog: Ok with what it returned, or Error with the InvalidFileException
/// it raised. A hang, another exception or an over-long message fails the test, naming `case`.
let guarded (case: string) (parse: unit -> 'a) : Result<'a, InvalidFileException> =
    let run =
        Task.Run(fun () ->
            try
                Ok(parse ())
            with e ->
                Error e)

    if not (run.Wait watchdog) then
        failtestf "%s hung: no outcome after %O" case watchdog

    match run.Result with
    | Ok value -> Ok value
    | Error(:? InvalidFileException as e) when e.Message.Length > maxMessage ->
        failtestf
            "%s: the refusal's message has %d characters, quoting too much: %s..."
            case
            e.Message.Length
            (e.Message.Substring(0, 200))
    | Error(:? InvalidFileException as e) -> Error e
    | Error e -> failtestf "%s escaped as %s: %s" case (e.GetType().Name) (Excerpt.text e.Message)

/// Runs `parse` on `count` inputs drawn by `generate` from the seed, `check` judging each outcome
/// (a test fails at the first case it rejects, named with its number and seed); returns how many
/// were refused.
let fuzzCases
    count
    (generate: Rng -> 'input)
    (seed: uint64)
    (parse: 'input -> 'a)
    (check: string -> 'input -> Result<'a, InvalidFileException> -> unit)
    =
    let rng = Rng seed
    let mutable refused = 0

    for i in 1..count do
        let input = generate rng
        let case = sprintf "case %d (seed %d)" i seed
        let outcome = guarded case (fun () -> parse input)
        check case input outcome

        if Result.isError outcome then
            refused <- refused + 1

    refused

/// Cases of each seeded family of issue 13: enough to hit every value of its lists in many combinations.
let cases = 500

let pick (rng: Rng) (items: 'a list) = items[rng.NextInt items.Length]

/// Mostly 1 to 4 dimensions, sometimes 255 (IDX's most), whose listing a message must not quote whole.
let rank (rng: Rng) = if rng.NextInt 8 = 0 then 255 else 1 + rng.NextInt 4

/// A named case: `load` must be refused with a message saying `says` (and, checked by `guarded`,
/// no longer than a short excerpt allows).
let refusal (name: string) (load: unit -> 'a) (says: string) =
    testCase name
    <| fun () ->
        match guarded name load with
        | Ok _ -> failtest "loaded without complaint"
        | Error e -> Expect.stringContains e.Message says "names the problem"

/// Runs `parse` on every mutation of `original`; returns how many were refused (the rest parsed).
let fuzzWith (mutate: Rng -> byte[] -> byte[]) (seed: uint64) (original: byte[]) (parse: byte[] -> unit) =
    fuzzCases mutations (fun rng -> mutate rng original) seed parse (fun _ _ _ -> ())

let fuzz = fuzzWith mutate

let shipped name =
    File.ReadAllBytes(Path.Combine(__SOURCE_DIRECTORY__, "..", "..", "src", "Hybrid", "Data", name))

let gzip (bytes: byte[]) =
    use output = new MemoryStream()

    do
        use zip = new GZipStream(output, CompressionLevel.Fastest)
        zip.Write(bytes, 0, bytes.Length)

    output.ToArray()

/// An IDX header: magic 00 00 08 rank, then the big-endian dimensions.
let idxHeader (dims: int list) = [|
    yield! [| 0uy; 0uy; 8uy; byte dims.Length |]
    for d in dims do
        yield! BitConverter.GetBytes(Net.IPAddress.HostToNetworkOrder d)
|]

/// A small valid IDX pair: 20 images of 4×3 bytes and their labels.
let idxPair () =
    let images = Array.append (idxHeader [ 20; 4; 3 ]) (Array.init (20 * 12) byte)
    let labels = Array.append (idxHeader [ 20 ]) (Array.init 20 (fun i -> byte (i % 3)))
    images, labels

/// `body` on the paths of fresh files holding the given contents, deleted afterwards.
let withFiles (contents: (string * byte[]) list) (body: string list -> 'a) : 'a =
    let dir =
        Path.Combine(Path.GetTempPath(), "hybrid-fuzz-" + Guid.NewGuid().ToString "N")

    Directory.CreateDirectory dir |> ignore

    try
        let paths =
            contents
            |> List.map (fun (name, bytes) ->
                let path = Path.Combine(dir, name) in
                File.WriteAllBytes(path, bytes)
                path)

        body paths
    finally
        Directory.Delete(dir, true)

/// The fuzzed IDX pairs label their items 0..2.
let idxClasses = [| "a"; "b"; "c" |]

let loadIdx (images: byte[]) (labels: byte[]) =
    withFiles [ "images.idx", images; "labels.idx", labels ] (fun paths -> Idx.load idxClasses paths[0] paths[1])

let loadCsv (options: Csv.Options) (bytes: byte[]) =
    withFiles [ "data.csv", bytes ] (fun paths -> Csv.load options paths[0])

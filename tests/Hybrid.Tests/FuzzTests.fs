/// Hostile files: thousands of mutated real files through every parser of a user's file. The only
/// acceptable outcomes are a parsed data set or an InvalidFileException naming the file; anything
/// else (IndexOutOfRange, OutOfMemory, a hang) is a bug. Seeds are fixed, so a failure reproduces.
module Hybrid.Tests.FuzzTests

open System
open System.IO
open System.IO.Compression
open Expecto
open Hybrid
open Hybrid.Engine.Training

let private mutations = 2000

/// Bytes that mean something to a parser: separators, quotes, signs, digits, NaN, NUL, 0xFF and UTF-8 lead bytes.
let private structural = Array.append (Text.Encoding.ASCII.GetBytes ",\n\r\"-+.eE0123456789NaInf") [| 0uy; 255uy; 0xE2uy; 0xC3uy |]

/// One random damage to a copy of the bytes: flipped bits, overwritten bytes, a truncation, an
/// insertion of structural characters, or a duplicated chunk.
let private mutate (rng: Rng) (original: byte[]) : byte[] =
    let bytes = ResizeArray original
    let at () = if bytes.Count = 0 then 0 else rng.NextInt bytes.Count
    for _ in 0 .. rng.NextInt 4 do
        match rng.NextInt 5 with
        | 0 when bytes.Count > 0 -> let i = at () in bytes[i] <- bytes[i] ^^^ byte (1 <<< rng.NextInt 8)
        | 1 when bytes.Count > 0 -> bytes[at ()] <- structural[rng.NextInt structural.Length]
        | 2 when bytes.Count > 0 ->
            let i = at ()
            bytes.RemoveRange(i, min (bytes.Count - i) (1 + rng.NextInt 64))
        | 3 -> bytes.Insert(at (), structural[rng.NextInt structural.Length])
        | _ when bytes.Count > 8 ->
            let i = at ()
            let n = min 32 (bytes.Count - i)
            bytes.InsertRange(at (), bytes.GetRange(i, n))
        | _ -> ()
    bytes.ToArray()

/// Runs `parse` on every mutation; returns how many were refused (the rest parsed).
let private fuzz (seed: uint64) (original: byte[]) (parse: byte[] -> unit) =
    let rng = Rng seed
    let mutable refused = 0
    for i in 1..mutations do
        let input = mutate rng original
        try parse input
        with
        | :? InvalidFileException -> refused <- refused + 1
        | e -> failtestf "mutation %d (seed %d) escaped as %s: %s" i seed (e.GetType().Name) e.Message
    refused

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

let tests =
    testList "fuzz" [
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

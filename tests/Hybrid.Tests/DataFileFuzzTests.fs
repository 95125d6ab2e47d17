/// Issue 13's families for data files, from fixed seeds: gzip damage and truncation at every
/// sixteenth of the file in every gzip reader, labels at the integer limits, zero and huge IDX
/// dimensions, and bytes that are not UTF-8; with the crashing inputs an outside fuzzer and these
/// families found, one named case each.
module Hybrid.Tests.DataFileFuzzTests

open System
open System.IO
open System.Text
open Expecto
open Hybrid
open Hybrid.Engine.Model
open Hybrid.Tests.Fuzzing

// ---------------------------------------------------------------------------------------------
// Gzip damage and truncation at every sixteenth of the file, in every reader that takes gzip.

let private flipped (bytes: byte[]) (at: int) (mask: byte) =
    let copy = Array.copy bytes
    copy[at] <- copy[at] ^^^ mask
    copy

let private withByte (bytes: byte[]) (at: int) (value: byte) =
    let copy = Array.copy bytes
    copy[at] <- value
    copy

/// (name, must be refused, damaged bytes). A cut file must never load; other damage may load only
/// when it leaves the content as it was (a flipped bit of the header's time stamp, say).
let private damagesOf (original: byte[]) =
    let last = original.Length
    let sixteenth k = k * last / 16

    [
        for k in 0..15 do
            sprintf "cut at %d/16 (byte %d)" k (sixteenth k), true, original[.. sixteenth k - 1]
        for k in 0..15 do
            sprintf "a bit flipped at %d/16 (byte %d)" k (sixteenth k), false, flipped original (sixteenth k) 0x10uy
            sprintf "a byte zeroed at %d/16 (byte %d)" k (sixteenth k), false, withByte original (sixteenth k) 0uy
        "the last byte cut", true, original[.. last - 2]
        "the trailer's CRC-32 wrong", false, flipped original (last - 8) 1uy
        "the trailer's length wrong", false, flipped original (last - 4) 1uy
        "a name flag without the name", false, flipped original 3 0x08uy
        "an extra-field flag without the field", false, flipped original 3 0x04uy
        "a header-CRC flag without the CRC", false, flipped original 3 0x02uy
        "a comment flag without the comment", false, flipped original 3 0x10uy
        "reserved flag bits set", false, flipped original 3 0xE0uy
        "bytes after the trailer", false, Array.append original [| 0uy; 1uy; 2uy |]
        "a second member after the first", false, Array.append original original
    ]

/// Every reader that accepts gzip, with its original compressed file and a load giving the data set.
let private gzipReaders =
    let images, labels = idxPair ()

    let iris = { Csv.defaults with SkipLines = 1; Header = false }

    [
        "Csv.load", gzip (shipped "iris.csv"), (fun bytes -> loadCsv iris bytes)
        "Idx.load images", gzip images, (fun bytes -> loadIdx bytes labels)
        "Idx.load labels", gzip labels, (fun bytes -> loadIdx images bytes)
    ]

let gzipDamage =
    testList "gzip damage" [
        for reader, original, load in gzipReaders do
            let expected = lazy (Dataset.hash (load original))

            for damage, mustRefuse, damaged in damagesOf original do
                let case = sprintf "%s: %s" reader damage

                testCase case
                <| fun () ->
                    match guarded case (fun () -> load damaged |> Dataset.hash) with
                    | Error _ -> ()
                    | Ok _ when mustRefuse -> failtest "a cut file loaded"
                    | Ok hash -> Expect.equal hash expected.Value "a damaged file loads only as the original"
    ]

// ---------------------------------------------------------------------------------------------
// Labels at the integer limits, IDX dimensions at zero and at the limits.

let private labelLimits = [
    "2147483647"
    "2147483646"
    "2147483648"
    "1000000000"
    "100000000"
    "4294967296"
    "1e300"
    "-1"
    "-2147483648"
    "2147483647.0"
    "1e10"
    "65536"
    "12"
    "11"
    "3"
    "2"
]

let private labelRows = 12

let private labelled (rng: Rng) =
    let rows = Array.init labelRows (fun r -> sprintf "%d,%d,%d" r (2 * r) (r % 3))

    for _ in 0 .. rng.NextInt 3 do
        let r = rng.NextInt labelRows
        rows[r] <- sprintf "%d,%d,%s" r (2 * r) (pick rng labelLimits)

    let classes = if rng.NextInt 2 = 0 then None else Some 3

    { Csv.defaults with Labels = Csv.Indices classes }, "a,b,label\n" + String.concat "\n" rows

let private readText (options: Csv.Options, text: string) =
    use reader = new StringReader(text)
    Csv.read options "labels.csv" reader

/// Loaded labels index the class names, and without a declared count there are no more classes than rows.
let private boundedClasses case (options: Csv.Options, _) (outcome: Result<Dataset, InvalidFileException>) =
    match outcome, options.Labels with
    | Ok data, _ when data.Labels |> Array.exists (fun l -> l >= data.ClassNames.Length) ->
        failtestf "%s: a label beyond the classes" case
    | Ok data, Csv.Indices None when data.ClassNames.Length > data.Rows ->
        failtestf "%s: %d classes for %d rows" case data.ClassNames.Length data.Rows
    | _ -> ()

let private dimensionLimits = [ 0; 1; 2; 3; 255; 256; 65536; 1 <<< 24; Int32.MaxValue; -1; Int32.MinValue ]

/// Images of 1 to 4 or 255 dimensions, some at the limits, with data of the length they need when that is
/// small, otherwise a few bytes; labels for as many images when that is small.
let private dimensioned (rng: Rng) =
    let dims = [
        for _ in 1 .. rank rng -> if rng.NextInt 3 = 0 then pick rng dimensionLimits else 1 + rng.NextInt 4
    ]

    let needed = dims |> List.fold (fun product d -> product * bigint d) 1I

    let length =
        if needed >= 0I && needed <= 4096I && rng.NextInt 4 > 0 then
            int needed
        else
            rng.NextInt 64

    let count = if dims.Head >= 0 && dims.Head <= 4096 then dims.Head else 3

    Array.append (idxHeader dims) (Array.init length byte),
    Array.append (idxHeader [ dims.Head ]) (Array.init count (fun i -> byte (i % 3)))

let private nonEmpty case _ (outcome: Result<Dataset, InvalidFileException>) =
    match outcome with
    | Ok data when
        data.Rows < 1
        || data.Columns < 1
        || data.Features.Length <> data.Rows * data.Columns
        ->
        failtestf "%s loaded as %d rows of %d columns" case data.Rows data.Columns
    | _ -> ()

// ---------------------------------------------------------------------------------------------
// Text that is not UTF-8: refused at the line and column where it is.

let private invalidUtf8 = [
    [| 0xFFuy |]
    [| 0x80uy |]
    [| 0xC3uy |]
    [| 0xE2uy; 0x82uy |]
    [| 0xC0uy; 0x80uy |]
    [| 0xEDuy; 0xA0uy; 0x80uy |]
    [| 0xF8uy; 0x88uy; 0x80uy; 0x80uy; 0x80uy |]
]

let private utf8Lines = [|
    "sepal,petal,species"
    "1,2,setosa"
    "3,4,versicolor"
    "5,6,virginica"
    "7,8,setosa"
|]

let private joined (separator: byte[]) (items: byte[][]) =
    items |> Array.reduce (fun a b -> Array.concat [ a; separator; b ])

/// Invalid bytes inside one field, plain or gzip, with the location that must be named.
let private misencoded (rng: Rng) =
    let line = rng.NextInt utf8Lines.Length
    let fields = utf8Lines[line].Split ','
    let column = rng.NextInt fields.Length
    let field = Encoding.UTF8.GetBytes fields[column]
    let at = rng.NextInt(field.Length + 1)
    let damaged = Array.concat [ field[.. at - 1]; pick rng invalidUtf8; field[at..] ]

    let lineBytes i (text: string) =
        if i <> line then
            Encoding.UTF8.GetBytes text
        else
            fields
            |> Array.mapi (fun c f -> if c = column then damaged else Encoding.UTF8.GetBytes f)
            |> joined ","B

    let bytes = utf8Lines |> Array.mapi lineBytes |> joined "\n"B
    (if rng.NextInt 2 = 0 then bytes else gzip bytes), sprintf "line %d, column %d" (line + 1) (column + 1)

let private refusedWhereInvalid case (_, location: string) (outcome: Result<Dataset, InvalidFileException>) =
    match outcome with
    | Ok _ -> failtestf "%s: text that is not UTF-8 loaded" case
    | Error e ->
        Expect.equal e.Location location (sprintf "%s: names where the invalid bytes are" case)
        Expect.stringContains e.Problem "not valid UTF-8" case

let families =
    testList "data file families" [
        testCase "CSV: labels at the integer limits (seed 44)"
        <| fun () -> fuzzCases cases labelled 44UL readText boundedClasses |> ignore
        testCase "IDX: zero and huge dimensions (seed 45)"
        <| fun () ->
            fuzzCases cases dimensioned 45UL (fun (images, labels) -> loadIdx images labels) nonEmpty
            |> ignore
        testCase "CSV: bytes that are not UTF-8, plain and gzip (seed 46)"
        <| fun () ->
            fuzzCases cases misencoded 46UL (fst >> loadCsv Csv.defaults) refusedWhereInvalid
            |> ignore
    ]

// ---------------------------------------------------------------------------------------------
// Crashing inputs, one named case each.

let private csvText options (text: string) () = readText (options, text)

let private indices = { Csv.defaults with Labels = Csv.Indices None }

let private huge (c: char) = String(c, 10_000_000)

let regressions =
    testList "data file regressions (issue 13)" [
        refusal
            "CSV: label 2,147,483,647 with Indices None (ArgumentException before)"
            (csvText indices "a,label\n1,0\n2,2147483647\n")
            "more than the 2 rows"
        refusal
            "CSV: label 2,147,483,646 with Indices None (out of memory before)"
            (csvText indices "a,label\n1,0\n2,2147483646\n")
            "more than the 2 rows"
        refusal
            "CSV: label 10^9 with Indices None (out of memory before)"
            (csvText indices "a,label\n1,1e9\n2,0\n")
            "more than the 2 rows"
        refusal
            "CSV: label 10^8 with Indices None (minutes naming classes before)"
            (csvText indices "a,label\n1,100000000\n2,0\n")
            "more than the 2 rows"
        refusal
            "IDX: images of [n, 0] (loaded without columns before)"
            (fun () -> loadIdx (idxHeader [ 3; 0 ]) (Array.append (idxHeader [ 3 ]) [| 0uy; 1uy; 2uy |]))
            "dimension 1 is 0"
        refusal
            "IDX: images of [n, 8, 0] (loaded without columns before)"
            (fun () -> loadIdx (idxHeader [ 3; 8; 0 ]) (Array.append (idxHeader [ 3 ]) [| 0uy; 1uy; 2uy |]))
            "dimension 2 is 0"
        refusal
            "CSV: a 10 MB field that is no number (quoted whole before)"
            (csvText Csv.defaults ("a,b,label\n1," + huge 'x' + ",y\n"))
            "(10000000 characters)"
        refusal "CSV: a 10 MB class index" (csvText indices ("a,label\n1," + huge '7' + "\n")) "(10000000 characters)"
        refusal
            "CSV: 10 MB header names without the label column's"
            (csvText { Csv.defaults with Label = Csv.Name "species" } (huge 'h' + ",b\n1,2\n"))
            "characters)"
        // Found by the families above when run against the loaders before the fixes.
        refusal
            "CSV: label 10^9 among 12 rows (fuzz seed 44, case 1; out of memory before)"
            (csvText
                indices
                "a,b,label\n0,0,0\n1,2,1\n2,4,2\n3,6,0\n4,8,1000000000\n5,10,2\n6,12,0\n7,14,12\n8,16,11\n9,18,0\n10,20,1\n11,22,2")
            "more than the 12 rows"
        refusal
            "IDX: one image of [1, 0] (fuzz seed 45, case 10; loaded with no columns before)"
            (fun () -> loadIdx (idxHeader [ 1; 0 ]) (Array.append (idxHeader [ 1 ]) [| 0uy |]))
            "dimension 1 is 0"
        refusal
            "CSV, gzip: an overlong encoding inside a number (fuzz seed 46, case 1; read as U+FFFD before)"
            (fun () ->
                loadCsv
                    Csv.defaults
                    (gzip (
                        Array.concat [
                            "sepal,petal,species\n1,2,setosa\n3,4,versicolor\n5,"B
                            [| 0xC0uy; 0x80uy |]
                            "6,virginica\n7,8,setosa"B
                        ]
                    )))
            "line 4, column 2"
        refusal
            "CSV: a label that is not UTF-8 (read as U+FFFD before)"
            (fun () -> loadCsv Csv.defaults (Array.concat [ "a,label\n1,caf"B; [| 0xE9uy |]; "\n"B ]))
            "line 2, column 2"
    ]

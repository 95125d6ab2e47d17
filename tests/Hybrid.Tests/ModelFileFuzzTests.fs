/// Issue 13's families for model files, from fixed seeds: integers at their limits in a model's
/// settings and in its safetensors header, and valid JSON of an unexpected shape at every depth;
/// with the crashing inputs an outside fuzzer and these families found, one named case each.
module Hybrid.Tests.ModelFileFuzzTests

open System
open System.Buffers.Binary
open System.Text
open System.Text.Json
open Expecto
open Hybrid
open Hybrid.Engine.Model
open Hybrid.Tests.Fuzzing

// ---------------------------------------------------------------------------------------------
// A small model as a safetensors file, and its JSON as members that damage can rearrange.

let private model: Model =
    let shape = NetworkShape(4, 3, 2, 3, SkipKind.Dense)

    {
        Shape = shape
        Parameters = Array.init shape.ParameterCount (fun i -> float32 i / 64.0f)
        ClassNames = [| "a"; "b"; "c" |]
        Preprocessing = Some { Mean = Array.zeroCreate 4; Scale = Array.create 4 1.0f }
        Seed = 7UL
        Optimizer = "Adam"
        Epoch = 3
    }

let private modelBytes = ModelFile.toBytes model
let private settingsText = (ModelFile.toCheckpoint model).Metadata["hybrid"]

/// A model file whose settings are `text`, written by the library's own writer.
let private withSettings (text: string) =
    let checkpoint = ModelFile.toCheckpoint model

    Safetensors.toBytes { checkpoint with Metadata = checkpoint.Metadata |> Map.add "hybrid" text }

let private loadModel (bytes: byte[]) = ModelFile.ofBytes "fuzzed.safetensors" bytes

/// A model that loads despite the damage must be the original network.
let private sameNetwork case _ (outcome: Result<Model, InvalidFileException>) =
    match outcome with
    | Ok loaded when loaded.Shape <> model.Shape || loaded.Parameters <> model.Parameters ->
        failtestf "%s loaded as another network: %O" case loaded.Shape
    | _ -> ()

/// A JSON object as its members' raw texts (key literal, value), so that damage can make what no
/// serializer would: repeated keys, escaped lone surrogates, any value anywhere.
let private membersOf (json: string) =
    use document = JsonDocument.Parse json

    [
        for p in document.RootElement.EnumerateObject() -> JsonSerializer.Serialize p.Name, p.Value.GetRawText()
    ]

let private render (members: (string * string) list) =
    members
    |> List.map (fun (key, value) -> key + ":" + value)
    |> String.concat ","
    |> sprintf "{%s}"

/// A safetensors file's header text and data buffer, and back.
let private parts (bytes: byte[]) =
    let length =
        int (BinaryPrimitives.ReadUInt64LittleEndian(ReadOnlySpan(bytes, 0, 8)))

    Encoding.UTF8.GetString(bytes, 8, length).TrimEnd ' ', bytes[8 + length ..]

let private assemble (header: string) (data: byte[]) =
    let text = Encoding.UTF8.GetBytes header
    let length = Array.zeroCreate<byte> 8
    BinaryPrimitives.WriteUInt64LittleEndian(Span length, uint64 text.Length)
    Array.concat [ length; text; data ]

/// The model file with one member of its header (a tensor's entry or the metadata) changed.
let private withHeaderMember (key: string) (change: string -> string) =
    let header, data = parts modelBytes

    let members =
        membersOf header
        |> List.map (fun (k, v) -> if k = key then k, change v else k, v)

    assemble (render members) data

// ---------------------------------------------------------------------------------------------
// Integers at the limits: widths in the settings, shapes and offsets in the header.

/// Integers at and around the limits of the types a reader might compute with, as JSON texts.
let private integerLimits = [
    "0"
    "1"
    "-1"
    "2"
    "10000"
    "40000"
    "46341"
    "50000"
    "65536"
    "100000"
    "1073741824"
    "2147483646"
    "2147483647"
    "2147483648"
    "-2147483648"
    "4294967296"
    "9223372036854775807"
    "18446744073709551615"
    "18446744073709551616"
    "1e9"
    "1.5"
    "-0"
    "1e400"
]

let private sizedSettings (rng: Rng) =
    let changes =
        Map [
            for _ in 0 .. rng.NextInt 4 ->
                JsonSerializer.Serialize(pick rng [ "D"; "M"; "L"; "P"; "epoch"; "seed" ]), pick rng integerLimits
        ]

    membersOf settingsText
    |> List.map (fun (k, v) -> k, changes |> Map.tryFind k |> Option.defaultValue v)
    |> render
    |> withSettings

let private sizedHeader (rng: Rng) =
    let header, _ = parts modelBytes

    let tensor =
        membersOf header
        |> List.map fst
        |> List.filter ((<>) "\"__metadata__\"")
        |> pick rng

    let number () = pick rng integerLimits

    withHeaderMember tensor (fun entry ->
        membersOf entry
        |> List.map (fun (k, v) ->
            match k with
            | "\"shape\"" when rng.NextInt 2 = 0 ->
                k, [ for _ in 1 .. rank rng -> number () ] |> String.concat "," |> sprintf "[%s]"
            | "\"data_offsets\"" when rng.NextInt 2 = 0 -> k, sprintf "[%s,%s]" (number ()) (number ())
            | _ -> k, v)
        |> render)

// ---------------------------------------------------------------------------------------------
// JSON shape surprises, at every depth of the header and in the settings.

let private surprises = [
    "null"
    "true"
    "{}"
    "[]"
    "[null]"
    "\"\""
    "\"\\ud800\""
    "\"a\\udc00b\""
    "[\"a\",null,\"c\"]"
    "[1,2,3]"
    String.replicate 64 "[" + String.replicate 64 "]"
    "{\"a\":{\"b\":{\"c\":{\"d\":{}}}}}"
    "1e400"
    "-1"
    JsonSerializer.Serialize(String('x', 100_000))
]

let private surprisingKeys = [
    "\"\\ud800\""
    "\"x\\udfff\""
    "\"\""
    JsonSerializer.Serialize(String('k', 100_000))
]

/// One surprise: a value replaced, a member repeated, a key replaced, or a member dropped.
let private surprising (rng: Rng) (members: (string * string) list) =
    let i = rng.NextInt members.Length
    let key, value = members[i]

    match rng.NextInt 4 with
    | 0 -> members |> List.updateAt i (key, pick rng surprises)
    | 1 -> members @ [ key, (if rng.NextInt 2 = 0 then value else pick rng surprises) ]
    | 2 -> members |> List.updateAt i (pick rng surprisingKeys, value)
    | _ -> members |> List.removeAt i

let private surprisingSettings (rng: Rng) = membersOf settingsText |> surprising rng |> render |> withSettings

/// A surprise at the header's root, or one level down: in a tensor's entry or in the metadata.
let private surprisingHeader (rng: Rng) =
    let header, data = parts modelBytes
    let root = membersOf header
    let i = rng.NextInt root.Length
    let key, value = root[i]

    if rng.NextInt 3 = 0 then
        assemble (render (surprising rng root)) data
    else
        assemble (render (root |> List.updateAt i (key, membersOf value |> surprising rng |> render))) data

let families =
    testList "model file families" [
        testCase "model file: widths and sizes at the integer limits in the settings (seed 40)"
        <| fun () -> fuzzCases cases sizedSettings 40UL loadModel sameNetwork |> ignore
        testCase "model file: shapes and offsets at the integer limits in the header (seed 41)"
        <| fun () -> fuzzCases cases sizedHeader 41UL loadModel sameNetwork |> ignore
        testCase "model file: JSON surprises in the settings (seed 42)"
        <| fun () ->
            let refused = fuzzCases cases surprisingSettings 42UL loadModel sameNetwork
            Expect.isGreaterThan refused (cases / 2) "most surprises are refused"
        testCase "model file: JSON surprises at every depth of the header (seed 43)"
        <| fun () ->
            let refused = fuzzCases cases surprisingHeader 43UL loadModel sameNetwork
            Expect.isGreaterThan refused (cases / 2) "most surprises are refused"
    ]

// ---------------------------------------------------------------------------------------------
// Crashing inputs, one named case each.

/// The settings with the given fields' values replaced by raw JSON texts.
let private settingsWith (changes: (string * string) list) =
    let changes =
        changes
        |> List.map (fun (field, value) -> JsonSerializer.Serialize field, value)
        |> Map

    membersOf settingsText
    |> List.map (fun (k, v) -> k, changes |> Map.tryFind k |> Option.defaultValue v)
    |> render
    |> withSettings

let private withHeaderText (change: string -> string) =
    let header, data = parts modelBytes
    assemble (change header) data

let regressions =
    testList "model file regressions (issue 13)" [
        refusal
            "settings: width 2,147,483,647 (ArgumentOutOfRangeException before)"
            (fun () -> loadModel (settingsWith [ "M", "2147483647" ]))
            "more than"
        refusal
            "settings: widths of 50,000 and 100,000 (a product wrapped negative before)"
            (fun () -> loadModel (settingsWith [ "D", "50000"; "M", "100000" ]))
            "more than"
        refusal
            "settings: widths needing 1.6 billion floats (allocated before the tensors were compared)"
            (fun () -> loadModel (settingsWith [ "D", "40000"; "M", "40000" ]))
            "expected shape"
        refusal
            "settings: a null class name (NullReferenceException before)"
            (fun () -> loadModel (settingsWith [ "classNames", "[\"a\",null,\"c\"]" ]))
            "field 'classNames' has the wrong type"
        refusal
            "settings: a repeated key (ArgumentException before)"
            (fun () -> loadModel (withSettings (settingsText.TrimEnd '}' + ",\"M\":3}")))
            "key 'M' appears 2 times"
        refusal
            "header: a tensor name escaping a lone surrogate (InvalidOperationException before)"
            (fun () -> loadModel (withHeaderText _.Replace("\"b1\"", "\"b\\ud800\"")))
            "lone UTF-16 surrogate"
        refusal
            "header: a metadata value escaping a lone surrogate"
            (fun () -> loadModel (withHeaderMember "\"__metadata__\"" (fun _ -> "{\"hybrid\":\"\\udc00\"}")))
            "lone UTF-16 surrogate"
        refusal
            "model file: a 1 MB tensor name (quoted whole before)"
            (fun () ->
                loadModel (
                    Safetensors.toBytes {
                        ModelFile.toCheckpoint model with
                            Tensors =
                                (ModelFile.toCheckpoint model).Tensors
                                @ [ { Name = String('t', 1_000_000); Shape = [ 1 ]; Data = [| 1.0f |] } ]
                    }
                ))
            "(1000000 characters)"
        refusal
            "settings: a 1 MB skip kind"
            (fun () -> loadModel (settingsWith [ "skip", JsonSerializer.Serialize(String('s', 1_000_000)) ]))
            "(1000000 characters)"
        // Found by the families above when run against the loaders before the fixes.
        refusal
            "settings: L of 2,147,483,646 (fuzz seed 40, case 21; ArgumentOutOfRangeException before)"
            (fun () -> loadModel (settingsWith [ "L", "2147483646" ]))
            "more than"
        refusal
            "settings: D repeated as -1 (fuzz seed 42, case 1; ArgumentException before)"
            (fun () -> loadModel (withSettings (settingsText.TrimEnd '}' + ",\"D\":-1}")))
            "key 'D' appears 2 times"
        refusal
            "header: a tensor named with 100,000 characters (fuzz seed 43, case 9; a 100,076-character message before)"
            (fun () -> loadModel (withHeaderText _.Replace("\"W2\"", JsonSerializer.Serialize(String('k', 100_000)))))
            "(100000 characters)"
    ]

/// A model as a safetensors file that PyTorch and NumPy open as they are: tensors W1, b1, W2, b2,
/// Ws or ws, W3, b3 (row-major F32), input.mean and input.scale when there is preprocessing
/// (applied as (x − mean) / scale), and under __metadata__ the key "hybrid" holding the
/// configuration as JSON (shape, skip kind, class names, seed, optimizer, epoch). `exportOnnx`
/// writes the same model as an ONNX graph.
[<RequireQualifiedAccess>]
module Hybrid.ModelFile

open System
open System.Text.Json
open Hybrid.Engine.Model
open Google.Protobuf
open Hybrid.Safetensors

let private metadataKey = "hybrid"
let private format = "hybrid-model/1"

let private configuration (model: Model) =
    let s = model.Shape

    JsonSerializer.Serialize {|
        format = format
        D = s.D
        M = s.M
        L = s.L
        P = s.P
        skip = string s.Skip
        classNames = model.ClassNames
        seed = model.Seed
        optimizer = model.Optimizer
        epoch = model.Epoch
    |}

let private parameterTensors (model: Model) : Tensor list =
    ParameterLayout(model.Shape).Tensors
    |> Seq.map (fun struct (name, range, dims) -> {
        Name = name
        Shape = List.ofArray dims
        Data = model.Parameters[range.Start.Value .. range.End.Value - 1]
    })
    |> List.ofSeq

let private preprocessingTensors (model: Model) : Tensor list =
    match model.Preprocessing with
    | None -> []
    | Some scaler -> [
        { Name = "input.mean"; Shape = [ scaler.Mean.Length ]; Data = scaler.Mean }
        { Name = "input.scale"; Shape = [ scaler.Scale.Length ]; Data = scaler.Scale }
      ]

let toCheckpoint (model: Model) : Checkpoint = {
    Tensors = parameterTensors model @ preprocessingTensors model
    Metadata = Map [ metadataKey, configuration model ]
}

/// Writes atomically (temporary file, then rename): a crash never leaves half a model.
let save (path: string) (model: Model) = Safetensors.write path (toCheckpoint model)

let private location = "__metadata__." + metadataKey

let private fail file problem : 'a = raise (InvalidFileException(file, location, problem))

/// The configuration's fields by name, each key once; the values outlive the parsed document.
type private Configuration = { File: string; Fields: Map<string, JsonElement> }

/// The field `name` read by `read`, which gives None for a value of the wrong kind or range.
let private field (config: Configuration) (name: string) (expected: string) (read: JsonElement -> 'a option) : 'a =
    match config.Fields.TryFind name with
    | None -> fail config.File (sprintf "missing field '%s'" name)
    | Some value ->
        match read value with
        | Some v -> v
        | None ->
            let problem =
                sprintf "field '%s' has the wrong type: expected %s, found %s" name expected (JsonReading.found value)

            fail config.File problem

let private number (tryGet: JsonElement -> bool * 'a) (value: JsonElement) =
    if value.ValueKind <> JsonValueKind.Number then
        None
    else
        match tryGet value with
        | true, n -> Some n
        | _ -> None

let private int32Field config name = field config name "an integer" (number _.TryGetInt32())

let private textField config name =
    field config name "a string" (JsonReading.text config.File location (sprintf "field '%s'" name))

let private textsField config name =
    let texts (value: JsonElement) =
        if value.ValueKind <> JsonValueKind.Array then
            None
        else
            let items =
                value.EnumerateArray()
                |> Seq.map (JsonReading.text config.File location (sprintf "an item of field '%s'" name))
                |> Array.ofSeq

            if items |> Array.forall Option.isSome then
                Some(Array.choose id items)
            else
                None

    field config name "an array of strings" texts

let private parseConfiguration file (checkpoint: Checkpoint) =
    let text =
        match checkpoint.Metadata.TryFind metadataKey with
        | Some text -> text
        | None ->
            raise (
                InvalidFileException(file, "__metadata__", sprintf "missing key '%s': not a Hybrid model" metadataKey)
            )

    let root =
        use document =
            JsonReading.parse file location "the configuration" 8 (ReadOnlyMemory(Text.Encoding.UTF8.GetBytes text))

        document.RootElement.Clone()

    if root.ValueKind <> JsonValueKind.Object then
        fail file (sprintf "expected a JSON object, found %s" (JsonReading.found root))

    let config = { File = file; Fields = JsonReading.members file location root |> Map.ofList }

    let found = textField config "format"

    if found <> format then
        fail file (sprintf "expected format '%s', found '%s'" format (Excerpt.text found))

    config

let private shapeOf file config =
    let skip =
        match textField config "skip" with
        | "Dense" -> SkipKind.Dense
        | "Diagonal" -> SkipKind.Diagonal
        | "None" -> SkipKind.None
        | other -> fail file (sprintf "field 'skip': expected Dense, Diagonal or None, found '%s'" (Excerpt.text other))

    try
        NetworkShape(int32Field config "D", int32Field config "M", int32Field config "L", int32Field config "P", skip)
    with :? ArgumentException as e ->
        fail file e.Message

let private tensor file (checkpoint: Checkpoint) name (dims: int list) =
    match checkpoint.Tensors |> List.tryFind (fun t -> t.Name = name) with
    | None -> raise (InvalidFileException(file, sprintf "tensor '%s'" name, "missing"))
    | Some t when t.Shape <> dims ->
        raise (
            InvalidFileException(
                file,
                sprintf "tensor '%s'" name,
                sprintf "expected shape %A, found %s" dims (Excerpt.text (sprintf "%A" t.Shape))
            )
        )
    | Some t ->
        match t.Data |> Array.tryFindIndex (fun v -> not (Single.IsFinite v)) with
        | Some i ->
            raise (
                InvalidFileException(
                    file,
                    sprintf "tensor '%s'" name,
                    sprintf "element %d is %g, expected a finite number" i t.Data[i]
                )
            )
        | None -> t.Data

/// Every tensor is found and checked before the buffer is made, so its size comes from data the
/// file really holds, never from the widths in the configuration alone.
let private parameters file checkpoint (shape: NetworkShape) =
    [|
        for struct (name, _, dims) in ParameterLayout(shape).Tensors -> tensor file checkpoint name (List.ofArray dims)
    |]
    |> Array.concat

let private preprocessing file (checkpoint: Checkpoint) (shape: NetworkShape) =
    let has name = checkpoint.Tensors |> List.exists (fun t -> t.Name = name)

    match has "input.mean", has "input.scale" with
    | false, false -> None
    | true, true ->
        let scale = tensor file checkpoint "input.scale" [ shape.D ]

        if scale |> Array.exists (fun s -> s = 0.0f) then
            raise (
                InvalidFileException(
                    file,
                    "tensor 'input.scale'",
                    "holds a zero: (x − mean) / scale would divide by zero"
                )
            )

        Some { Mean = tensor file checkpoint "input.mean" [ shape.D ]; Scale = scale }
    | _ ->
        raise (InvalidFileException(file, "tensors 'input.mean', 'input.scale'", "expected both or neither, found one"))

let private checkNoExtras file (checkpoint: Checkpoint) (shape: NetworkShape) =
    let expected =
        [ for struct (name, _, _) in ParameterLayout(shape).Tensors -> name ]
        @ [ "input.mean"; "input.scale" ]
        |> set

    match checkpoint.Tensors |> List.tryFind (fun t -> not (expected.Contains t.Name)) with
    | Some t ->
        raise (
            InvalidFileException(
                file,
                sprintf "tensor '%s'" (Excerpt.text t.Name),
                sprintf "unexpected for a %O network" shape
            )
        )
    | None -> ()

/// Reads and validates a model; every problem is an InvalidFileException naming the file and what is wrong.
let ofCheckpoint (file: string) (checkpoint: Checkpoint) : Model =
    let config = parseConfiguration file checkpoint
    let shape = shapeOf file config
    checkNoExtras file checkpoint shape
    let classNames = textsField config "classNames"

    if classNames.Length <> shape.P then
        fail file (sprintf "field 'classNames': expected %d names (P), found %d" shape.P classNames.Length)

    {
        Shape = shape
        Parameters = parameters file checkpoint shape
        ClassNames = classNames
        Preprocessing = preprocessing file checkpoint shape
        Seed = field config "seed" "an integer from 0 to 2^64 - 1" (number _.TryGetUInt64())
        Optimizer = textField config "optimizer"
        Epoch = int32Field config "epoch"
    }

let load (path: string) : Model = ofCheckpoint path (Safetensors.read path)

/// The model as the bytes of a safetensors file, for keeping in the run store.
let toBytes (model: Model) : byte[] = Safetensors.toBytes (toCheckpoint model)

/// Reads a model from a safetensors file's bytes; `name` says where they came from, in errors.
let ofBytes (name: string) (bytes: byte[]) : Model = ofCheckpoint name (Safetensors.ofBytes name bytes)

/// Writes the model as an ONNX graph (see OnnxGraph), atomically. Its metadata_props hold the
/// configuration under "hybrid", the same JSON as the safetensors file's, and the class names
/// under "class_names" as a JSON array, in the order of the output's columns.
let exportOnnx (path: string) (model: Model) =
    let metadata = [
        metadataKey, configuration model
        "class_names", JsonSerializer.Serialize model.ClassNames
    ]

    let onnx = OnnxGraph.ofModel metadata model
    Files.writeAtomically path (fun stream -> onnx.WriteTo stream)

/// Exports the model file at `modelPath` as ONNX at `onnxPath`; a model file that fails validation
/// raises the loader's InvalidFileException and writes nothing.
let exportOnnxFrom (modelPath: string) (onnxPath: string) = load modelPath |> exportOnnx onnxPath

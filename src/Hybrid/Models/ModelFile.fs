/// A model as a safetensors file that PyTorch and NumPy open as they are: tensors W1, b1, W2, b2,
/// Ws or ws, W3, b3 (row-major F32), input.mean and input.scale when there is preprocessing
/// (applied as (x − mean) / scale), and under __metadata__ the key "hybrid" holding the
/// configuration as JSON (shape, skip kind, class names, seed, optimizer, epoch). `exportOnnx`
/// writes the same model as an ONNX graph.
[<RequireQualifiedAccess>]
module Hybrid.ModelFile

open System
open System.Text.Json
open System.Text.Json.Nodes
open Hybrid.Engine.Model
open Google.Protobuf
open Hybrid.Safetensors

let private metadataKey = "hybrid"
let private format = "hybrid-model/1"

let private configuration (model: Model) =
    let s = model.Shape
    JsonSerializer.Serialize
        {| format = format
           D = s.D
           M = s.M
           L = s.L
           P = s.P
           skip = string s.Skip
           classNames = model.ClassNames
           seed = model.Seed
           optimizer = model.Optimizer
           epoch = model.Epoch |}

let private parameterTensors (model: Model) : Tensor list =
    ParameterLayout(model.Shape).Tensors
    |> Seq.map (fun struct (name, range, dims) ->
        { Name = name; Shape = List.ofArray dims; Data = model.Parameters[range.Start.Value .. range.End.Value - 1] })
    |> List.ofSeq

let private preprocessingTensors (model: Model) : Tensor list =
    match model.Preprocessing with
    | None -> []
    | Some scaler ->
        [ { Name = "input.mean"; Shape = [ scaler.Mean.Length ]; Data = scaler.Mean }
          { Name = "input.scale"; Shape = [ scaler.Scale.Length ]; Data = scaler.Scale } ]

let toCheckpoint (model: Model) : Checkpoint =
    { Tensors = parameterTensors model @ preprocessingTensors model
      Metadata = Map [ metadataKey, configuration model ] }

/// Writes atomically (temporary file, then rename): a crash never leaves half a model.
let save (path: string) (model: Model) = Safetensors.write path (toCheckpoint model)

let private fail file problem : 'a = raise (InvalidFileException(file, "__metadata__.hybrid", problem))

let private field file (config: JsonObject) (name: string) (read: JsonNode -> 'a) : 'a =
    match config[name] with
    | null -> fail file (sprintf "missing field '%s'" name)
    | node ->
        try read node
        with :? InvalidOperationException | :? FormatException | :? OverflowException ->
            fail file (sprintf "field '%s' has the wrong type: found %s" name (node.ToJsonString()))

let private parseConfiguration file (checkpoint: Checkpoint) =
    let text =
        match checkpoint.Metadata.TryFind metadataKey with
        | Some text -> text
        | None -> raise (InvalidFileException(file, "__metadata__", sprintf "missing key '%s': not a Hybrid model" metadataKey))
    let config =
        try
            match JsonNode.Parse(text, documentOptions = JsonDocumentOptions(MaxDepth = 8)) with
            | :? JsonObject as o -> o
            | _ -> fail file "expected a JSON object"
        with :? JsonException as e -> fail file (sprintf "not well-formed JSON (%s)" e.Message)
    let found = field file config "format" (fun n -> n.GetValue<string>())
    if found <> format then fail file (sprintf "expected format '%s', found '%s'" format found)
    config

let private shapeOf file config =
    let int name = field file config name (fun n -> n.GetValue<int>())
    let skip =
        match field file config "skip" (fun n -> n.GetValue<string>()) with
        | "Dense" -> SkipKind.Dense
        | "Diagonal" -> SkipKind.Diagonal
        | "None" -> SkipKind.None
        | other -> fail file (sprintf "field 'skip': expected Dense, Diagonal or None, found '%s'" other)
    try NetworkShape(int "D", int "M", int "L", int "P", skip)
    with :? ArgumentException as e -> fail file e.Message

let private tensor file (checkpoint: Checkpoint) name (dims: int list) =
    match checkpoint.Tensors |> List.tryFind (fun t -> t.Name = name) with
    | None -> raise (InvalidFileException(file, sprintf "tensor '%s'" name, "missing"))
    | Some t when t.Shape <> dims ->
        raise (InvalidFileException(file, sprintf "tensor '%s'" name, sprintf "expected shape %A, found %A" dims t.Shape))
    | Some t ->
        match t.Data |> Array.tryFindIndex (fun v -> not (Single.IsFinite v)) with
        | Some i -> raise (InvalidFileException(file, sprintf "tensor '%s'" name, sprintf "element %d is %g, expected a finite number" i t.Data[i]))
        | None -> t.Data

let private parameters file checkpoint (shape: NetworkShape) =
    let layout = ParameterLayout shape
    let values = Array.zeroCreate<float32> layout.Count
    for struct (name, range, dims) in layout.Tensors do
        (tensor file checkpoint name (List.ofArray dims)).CopyTo(values, range.Start.Value)
    values

let private preprocessing file (checkpoint: Checkpoint) (shape: NetworkShape) =
    let has name = checkpoint.Tensors |> List.exists (fun t -> t.Name = name)
    match has "input.mean", has "input.scale" with
    | false, false -> None
    | true, true ->
        let scale = tensor file checkpoint "input.scale" [ shape.D ]
        if scale |> Array.exists (fun s -> s = 0.0f) then
            raise (InvalidFileException(file, "tensor 'input.scale'", "holds a zero: (x − mean) / scale would divide by zero"))
        Some { Mean = tensor file checkpoint "input.mean" [ shape.D ]; Scale = scale }
    | _ -> raise (InvalidFileException(file, "tensors 'input.mean', 'input.scale'", "expected both or neither, found one"))

let private checkNoExtras file (checkpoint: Checkpoint) (shape: NetworkShape) =
    let expected =
        [ for struct (name, _, _) in ParameterLayout(shape).Tensors -> name ] @ [ "input.mean"; "input.scale" ] |> set
    match checkpoint.Tensors |> List.tryFind (fun t -> not (expected.Contains t.Name)) with
    | Some t -> raise (InvalidFileException(file, sprintf "tensor '%s'" t.Name, sprintf "unexpected for a %O network" shape))
    | None -> ()

/// Reads and validates a model; every problem is an InvalidFileException naming the file and what is wrong.
let ofCheckpoint (file: string) (checkpoint: Checkpoint) : Model =
    let config = parseConfiguration file checkpoint
    let shape = shapeOf file config
    checkNoExtras file checkpoint shape
    let classNames = field file config "classNames" (fun n -> n.AsArray() |> Seq.map (fun c -> (nonNull c).GetValue<string>()) |> Array.ofSeq)
    if classNames.Length <> shape.P then
        fail file (sprintf "field 'classNames': expected %d names (P), found %d" shape.P classNames.Length)
    { Shape = shape
      Parameters = parameters file checkpoint shape
      ClassNames = classNames
      Preprocessing = preprocessing file checkpoint shape
      Seed = field file config "seed" (fun n -> n.GetValue<uint64>())
      Optimizer = field file config "optimizer" (fun n -> n.GetValue<string>())
      Epoch = field file config "epoch" (fun n -> n.GetValue<int>()) }

let load (path: string) : Model = ofCheckpoint path (Safetensors.read path)

/// The model as the bytes of a safetensors file, for keeping in the run store.
let toBytes (model: Model) : byte[] = Safetensors.toBytes (toCheckpoint model)

/// Reads a model from a safetensors file's bytes; `name` says where they came from, in errors.
let ofBytes (name: string) (bytes: byte[]) : Model = ofCheckpoint name (Safetensors.ofBytes name bytes)

/// Writes the model as an ONNX graph (see OnnxGraph), atomically. Its metadata_props hold the
/// configuration under "hybrid", the same JSON as the safetensors file's, and the class names
/// under "class_names" as a JSON array, in the order of the output's columns.
let exportOnnx (path: string) (model: Model) =
    let metadata = [ metadataKey, configuration model; "class_names", JsonSerializer.Serialize model.ClassNames ]
    let onnx = OnnxGraph.ofModel metadata model
    Files.writeAtomically path (fun stream -> onnx.WriteTo stream)

/// Exports the model file at `modelPath` as ONNX at `onnxPath`; a model file that fails validation
/// raises the loader's InvalidFileException and writes nothing.
let exportOnnxFrom (modelPath: string) (onnxPath: string) = load modelPath |> exportOnnx onnxPath

/// A trained model as an ONNX graph that ONNX Runtime and the ONNX checker accept: float32 input
/// `[batch, D]` with a symbolic batch dimension, standardization, the three layers with the model's
/// skip, softmax, and probabilities `[batch, P]` out. Parameters keep their model-file names.
[<RequireQualifiedAccess>]
module Hybrid.OnnxGraph

open Hybrid.Engine.Layers
open Hybrid.Engine.Model
open Onnx

/// ONNX 1.12's IR version and default opset (Debian's checker); ONNX Runtime reads both.
let irVersion = 8L
let opset = 17L

let inputName = "input"
let outputName = "probabilities"

/// Nodes in execution order and the constants they read.
type private Part = { Nodes: NodeProto list; Constants: TensorProto list }

let private part nodes constants = { Nodes = nodes; Constants = constants }

let private concat (parts: Part list) = part (parts |> List.collect _.Nodes) (parts |> List.collect _.Constants)

let private floatTensor name (dims: int list) (values: float32[]) =
    let tensor =
        TensorProto(Name = name, DataType = int TensorProto.Types.DataType.Float)

    tensor.Dims.AddRange(dims |> List.map int64)
    tensor.FloatData.AddRange values
    tensor

let private int64Tensor name (values: int64 list) =
    let tensor =
        TensorProto(Name = name, DataType = int TensorProto.Types.DataType.Int64)

    tensor.Dims.Add(int64 values.Length)
    tensor.Int64Data.AddRange values
    tensor

let private intAttribute name value =
    AttributeProto(Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value)

/// A node named after its one output, so a graph viewer shows what each step computes.
let private node opType (inputs: string list) output (attributes: AttributeProto list) =
    let n = NodeProto(OpType = opType, Name = output)
    n.Input.AddRange inputs
    n.Output.Add output
    n.Attribute.AddRange attributes
    n

/// y = x·Wᵀ + b, the engine's Linear layer; `bias` is absent for the dense skip.
let private linear x weights bias output =
    node "Gemm" (x :: weights :: Option.toList bias) output [ intAttribute "transB" 1L ]

let private parameterTensors (model: Model) =
    ParameterLayout(model.Shape).Tensors
    |> Seq.map (fun struct (name, range, dims) ->
        floatTensor name (List.ofArray dims) model.Parameters[range.Start.Value .. range.End.Value - 1])
    |> List.ofSeq

/// x' = (x − mean) / scale in float32, as Scaler.apply computes it; returns the part and its output.
let private standardization (model: Model) =
    match model.Preprocessing with
    | None -> part [] [], inputName
    | Some scaler ->
        let d = model.Shape.D

        part [
            node "Sub" [ inputName; "input.mean" ] "centered" []
            node "Div" [ "centered"; "input.scale" ] "x" []
        ] [
            floatTensor "input.mean" [ d ] scaler.Mean
            floatTensor "input.scale" [ d ] scaler.Scale
        ],
        "x"

/// S[b, j] = ws[j]·x[b, j] for j < k = min(L, D), zero for the L − k columns after: the first k
/// columns of x (a Slice when D > k), times ws, padded with zeros on the right (a Pad when L > k).
let private diagonalSkip (shape: NetworkShape) x =
    let k = shape.DiagonalWidth

    let first, slice =
        if shape.D > k then
            "x.first",
            part [ node "Slice" [ x; "skip.starts"; "skip.ends"; "skip.axes" ] "x.first" [] ] [
                int64Tensor "skip.starts" [ 0L ]
                int64Tensor "skip.ends" [ int64 k ]
                int64Tensor "skip.axes" [ 1L ]
            ]
        else
            x, part [] []

    let scaled, pad =
        if shape.L > k then
            "S.first",
            part [ node "Pad" [ "S.first"; "skip.pads" ] "S" [] ] [
                int64Tensor "skip.pads" [ 0L; 0L; 0L; int64 (shape.L - k) ]
            ]
        else
            "S", part [] []

    concat [ slice; part [ node "Mul" [ first; "ws" ] scaled [] ] []; pad ]

/// Z2 = ReLU(A2) + skip(x); returns the part and the name of Z2.
let private skipConnection (shape: NetworkShape) x =
    let add = part [ node "Add" [ "R2"; "S" ] "Z2" [] ] []

    match shape.Skip with
    | SkipKind.Dense -> concat [ part [ linear x "Ws" None "S" ] []; add ], "Z2"
    | SkipKind.Diagonal -> concat [ diagonalSkip shape x; add ], "Z2"
    | SkipKind.None -> part [] [], "R2"
    | other -> invalidArg (nameof shape) (sprintf "unknown skip kind %O" other)

let private network (model: Model) =
    let standardize, x = standardization model
    let skip, z2 = skipConnection model.Shape x

    let layers =
        part
            [
                linear x "W1" (Some "b1") "A1"
                node "Tanh" [ "A1" ] "Z1" []
                linear "Z1" "W2" (Some "b2") "A2"
                node "Relu" [ "A2" ] "R2" []
            ]
            (parameterTensors model)

    let output =
        part [
            linear z2 "W3" (Some "b3") "A3"
            node "Softmax" [ "A3" ] outputName [ intAttribute "axis" 1L ]
        ] []

    concat [ standardize; layers; skip; output ]

/// A float32 tensor `[batch, width]`, the batch dimension left symbolic.
let private batchOf name (width: int) doc =
    let shape = TensorShapeProto()
    shape.Dim.Add(TensorShapeProto.Types.Dimension(DimParam = "batch"))
    shape.Dim.Add(TensorShapeProto.Types.Dimension(DimValue = int64 width))

    let tensor =
        TypeProto.Types.Tensor(ElemType = int TensorProto.Types.DataType.Float, Shape = shape)

    ValueInfoProto(Name = name, Type = TypeProto(TensorType = tensor), DocString = doc)

/// The model as an ONNX ModelProto, with `metadata` as its metadata_props (key, value) pairs.
let ofModel (metadata: (string * string) list) (model: Model) : ModelProto =
    let s = model.Shape
    let body = network model

    let graph =
        GraphProto(
            Name = "hybrid",
            DocString = sprintf "Hybrid network D=%d, M=%d, L=%d, P=%d, skip %O" s.D s.M s.L s.P s.Skip
        )

    graph.Node.AddRange body.Nodes
    graph.Initializer.AddRange body.Constants
    graph.Input.Add(batchOf inputName s.D "raw features, one row per sample; the graph standardizes them")
    graph.Output.Add(batchOf outputName s.P "class probabilities, columns in the order of metadata class_names")
    let onnx = ModelProto(IrVersion = irVersion, ProducerName = "Hybrid", Graph = graph)
    onnx.OpsetImport.Add(OperatorSetIdProto(Domain = "", Version = opset))

    onnx.MetadataProps.AddRange(
        metadata
        |> List.map (fun (key, value) -> StringStringEntryProto(Key = key, Value = value))
    )

    onnx

namespace Hybrid

open System
open Hybrid.Engine.Training

/// A training checkpoint as bytes and back: a safetensors file, so it is validated like a model file.
[<RequireQualifiedAccess>]
module Checkpoint =

    let private tensor name (data: float32[]) : Safetensors.Tensor = {
        Name = name
        Shape = [ data.Length ]
        Data = data
    }

    /// A training checkpoint as safetensors bytes: the arrays as tensors, the scalars and history as metadata.
    let encode (c: TrainingCheckpoint) : byte[] =
        let history =
            c.History
            |> Seq.map (fun m -> [|
                float m.Epoch
                m.TrainLoss
                m.TrainAccuracy
                Option.ofNullable m.ValidationLoss |> Option.defaultValue nan
                Option.ofNullable m.ValidationAccuracy |> Option.defaultValue nan
                m.LearningRate
            |])

        Safetensors.toBytes {
            Tensors = [
                tensor "parameters" c.Parameters
                tensor "optimizer.first" c.OptimizerFirst
                tensor "optimizer.second" c.OptimizerSecond
                tensor "kept" c.Kept
            ]
            Metadata =
                Map [
                    "epoch", string c.Epoch
                    "optimizer.steps", string c.OptimizerSteps
                    "kept.epoch", string c.KeptEpoch
                    "best.validation.loss", BitConverter.DoubleToInt64Bits(c.BestValidationLoss) |> string
                    "history",
                    history
                    |> Seq.map (Array.map (BitConverter.DoubleToInt64Bits >> string) >> String.concat ",")
                    |> String.concat ";"
                ]
        }

    let private metric (value: float) = if Double.IsNaN value then Nullable() else Nullable value

    /// Reads a checkpoint written by `encode`; `name` is used in errors.
    let decode (name: string) (bytes: byte[]) : TrainingCheckpoint =
        let c = Safetensors.ofBytes name bytes

        let data n =
            match c.Tensors |> List.tryFind (fun t -> t.Name = n) with
            | Some t -> t.Data
            | None -> raise (InvalidFileException(name, sprintf "tensor '%s'" n, "missing from the checkpoint"))

        let meta key =
            match c.Metadata.TryFind key with
            | Some v -> v
            | None -> raise (InvalidFileException(name, "__metadata__", sprintf "missing key '%s'" key))

        let bits (s: string) = BitConverter.Int64BitsToDouble(int64 s)

        let history () =
            (meta "history").Split(';', StringSplitOptions.RemoveEmptyEntries)
            |> Array.map (fun row ->
                let v = row.Split ',' |> Array.map bits
                EpochMetrics(int v[0], v[1], v[2], metric v[3], metric v[4], v[5]))

        try
            TrainingCheckpoint(
                int (meta "epoch"),
                data "parameters",
                data "optimizer.first",
                data "optimizer.second",
                int64 (meta "optimizer.steps"),
                data "kept",
                int (meta "kept.epoch"),
                bits (meta "best.validation.loss"),
                history ()
            )
        with
        | :? FormatException
        | :? OverflowException
        | :? IndexOutOfRangeException as e ->
            raise (InvalidFileException(name, "__metadata__", sprintf "malformed checkpoint metadata (%s)" e.Message))

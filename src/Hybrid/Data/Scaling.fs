namespace Hybrid

open System

/// Per-column preprocessing x' = (x − Mean) / Scale. Standardizing and min-max scaling both take
/// this one form, so a model is saved with a single preprocessing representation. Fit it on the
/// training part only: statistics of validation or test data would leak into the model.
type Scaler = { Mean: float32[]; Scale: float32[] }

[<RequireQualifiedAccess>]
module Scaler =

    /// Scales every column. The arithmetic is float32, (x − Mean) / Scale exactly as written, so
    /// that prediction can reproduce training's inputs bit for bit.
    let apply (scaler: Scaler) (data: Dataset) : Dataset =
        if scaler.Mean.Length <> data.Columns || scaler.Scale.Length <> data.Columns then
            let problem =
                sprintf "the scaler has %d columns, %s has %d" scaler.Mean.Length data.Name data.Columns

            invalidArg (nameof scaler) problem

        let scale i x =
            let c = i % data.Columns
            (x - scaler.Mean[c]) / scaler.Scale[c]

        { data with Features = data.Features |> Array.mapi scale }

    /// Folds every column in double precision, reading the features in their row-major order (a
    /// column-by-column walk would miss the cache on every read of a wide data set such as MNIST).
    let internal foldColumns (initial: float) (step: int -> float -> float -> float) (data: Dataset) : float[] =
        if data.Rows = 0 then
            invalidArg (nameof data) (sprintf "cannot fit a scaler on %s: it has no rows" data.Name)

        let state = Array.create data.Columns initial

        data.Features
        |> Array.iteri (fun i x ->
            let c = i % data.Columns
            // Checked here, before scaling spreads one NaN over its whole column and the engine
            // reports a row that holds nothing wrong.
            if not (Single.IsFinite x) then
                invalidArg
                    (nameof data)
                    (sprintf
                        "cannot fit a scaler on %s: row %d, column %d holds %g, expected a finite number"
                        data.Name
                        (i / data.Columns)
                        c
                        x)

            state[c] <- step c state[c] (float x))

        state

    /// A column with no spread on the training part (constant) gets scale 1 rather than a division
    /// by zero: it becomes x − Mean, which is 0 on the training part.
    let internal ofSpread (mean: float[]) (spread: float[]) : Scaler = {
        Mean = mean |> Array.map float32
        Scale = spread |> Array.map (fun s -> if s = 0.0 then 1.0f else float32 s)
    }

/// Zero mean and unit variance per column (population standard deviation, as scikit-learn's
/// StandardScaler); constant columns get scale 1.
[<RequireQualifiedAccess>]
module Standardize =

    let fit (train: Dataset) : Scaler =
        let rows = float train.Rows

        let means =
            train
            |> Scaler.foldColumns 0.0 (fun _ sum x -> sum + x)
            |> Array.map (fun sum -> sum / rows)

        let squares =
            train
            |> Scaler.foldColumns 0.0 (fun c sum x -> sum + (x - means[c]) * (x - means[c]))

        Scaler.ofSpread means (squares |> Array.map (fun sum -> sqrt (sum / rows)))

/// Each column mapped onto [0, 1] by its training minimum and maximum (so Mean holds the minimum);
/// constant columns get scale 1.
[<RequireQualifiedAccess>]
module MinMax =

    let fit (train: Dataset) : Scaler =
        let minima = train |> Scaler.foldColumns infinity (fun _ least x -> min least x)
        let maxima = train |> Scaler.foldColumns -infinity (fun _ most x -> max most x)
        Scaler.ofSpread minima (Array.map2 (-) maxima minima)

/// Synthetic data for demos and tests. Every draw comes from the engine's Rng, so a spec gives the
/// same bits on every machine. Rows come class by class; shuffle or split them before training.
module Hybrid.Synthetic

open System
open Hybrid.Engine.Model

/// Classes Gaussian clusters in Dimensions dimensions: centres uniform in [−10, 10) on every axis,
/// points at their centre plus Spread × N(0, 1) on every axis.
type Blobs = { Classes: int; Dimensions: int; PerClass: int; Spread: float; Seed: uint64 }

/// Two interleaved spirals in the plane, one per class, 1.5 turns each, with N(0, Noise²) added to
/// every coordinate: a classic problem no linear model solves.
type Spirals = { PerClass: int; Noise: float; Seed: uint64 }

let private atLeastOne name value =
    if value < 1 then
        invalidArg name (sprintf "%s must be at least 1, got %d" name value)

let private nonNegative name value =
    if value < 0.0 then
        invalidArg name (sprintf "%s must not be negative, got %g" name value)

let private labelled name classes perClass columns (features: float[]) : Dataset = {
    Name = name
    Features = features |> Array.map float32
    Rows = classes * perClass
    Columns = columns
    Labels = Array.init (classes * perClass) (fun r -> r / perClass)
    ClassNames = Array.init classes string
    FeatureNames = Array.init columns (sprintf "x%d")
}

let blobs (spec: Blobs) : Dataset =
    atLeastOne (nameof spec.Classes) spec.Classes
    atLeastOne (nameof spec.Dimensions) spec.Dimensions
    atLeastOne (nameof spec.PerClass) spec.PerClass
    nonNegative (nameof spec.Spread) spec.Spread
    let rng = Rng spec.Seed
    let d = spec.Dimensions

    let centres =
        Array.init (spec.Classes * d) (fun _ -> 20.0 * rng.NextDouble() - 10.0)

    Array.init (spec.Classes * spec.PerClass * d) (fun i ->
        let row, axis = i / d, i % d
        centres[row / spec.PerClass * d + axis] + spec.Spread * rng.NextGaussian())
    |> labelled "blobs" spec.Classes spec.PerClass d

let twoSpirals (spec: Spirals) : Dataset =
    atLeastOne (nameof spec.PerClass) spec.PerClass
    nonNegative (nameof spec.Noise) spec.Noise
    let rng = Rng spec.Seed

    // The second spiral is the first turned by half a turn; the radius grows with the angle.
    let point spiral i =
        let radius = float (i + 1) / float spec.PerClass
        let angle = 3.0 * Math.PI * radius + Math.PI * float spiral
        let x = radius * cos angle + spec.Noise * rng.NextGaussian()
        let y = radius * sin angle + spec.Noise * rng.NextGaussian()
        [| x; y |]

    [|
        for spiral in 0..1 do
            for i in 0 .. spec.PerClass - 1 -> point spiral i
    |]
    |> Array.concat
    |> labelled "two spirals" 2 spec.PerClass 2

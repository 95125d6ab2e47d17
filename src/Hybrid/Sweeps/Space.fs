namespace Hybrid

open System
open System.Globalization
open Microsoft.FSharp.Reflection
open Hybrid.Engine.Model
open Hybrid.Engine.Training

/// A training setting a sweep can vary: a closed set, so adding one without handling it everywhere
/// fails the build.
type Setting =
    | M
    | L
    | Skip
    | Optimizer
    | LearningRate
    | Momentum
    | WeightDecay
    | Schedule
    | WarmupEpochs
    | BatchSize
    | Epochs

/// One value of a setting.
type Value =
    | Int of int
    | Float of float
    | SkipValue of SkipKind
    | OptimizerValue of OptimizerKind
    | ScheduleValue of ScheduleKind

/// The values a setting ranges over. Ranges are inclusive.
type Domain =
    | Choice of Value list
    | IntRange of low: int * high: int
    | FloatRange of low: float * high: float
    /// Log-uniform: equal shares of each decade, as learning rates want.
    | LogRange of low: float * high: float

/// A search space: which settings vary, over what.
type Space = (Setting * Domain) list

/// TPE's options, named and defaulted as in Optuna's TPESampler (see `Tpe.defaults`).
type TpeOptions = {
    /// Configurations drawn at random before the model takes over.
    Startup: int
    /// Draws from the good configurations' estimator per proposal; the one most likely good rather than bad wins.
    Candidates: int
    /// The share of observed configurations counted as good (at least 1, at most 25 of them).
    Gamma: float
    /// Weight of the prior (one wide component over the whole domain) beside each observation's weight of 1.
    PriorWeight: float
}

/// How an adaptive search proposes each batch of configurations.
[<RequireQualifiedAccess>]
type Sampler =
    /// Independent draws from the search's seed and the batch index.
    | Random
    /// The Sobol sequence, continued batch after batch.
    | Sobol
    /// Tree-structured Parzen estimators (Bergstra et al. 2011) fitted to the results of earlier batches.
    | Tpe of TpeOptions

/// Which configurations of a batch train to the end. Rungs are in epochs and end at the settings'
/// Epochs: with s = ⌊log_η(Epochs / minEpochs)⌋, rung k (0 … s) is at round(Epochs · η^(k − s)).
[<RequireQualifiedAccess>]
type Pruning =
    /// Every configuration trains to the end.
    | Off
    /// Successive halving: after each rung the best 1/η of the configurations (at least one) go on.
    | Halving of minEpochs: int * eta: int
    /// Hyperband: successive halving in brackets from the most aggressive (first rung at about
    /// minEpochs) to none at all (every configuration to the end), batch after batch in turn.
    | Hyperband of minEpochs: int * eta: int

/// A search that learns from its results: batches of configurations, each proposed from the
/// results of the batches before it and pruned rung by rung.
type Search = {
    Sampler: Sampler
    /// How many configurations in all (fewer when the space runs out).
    Configurations: int
    /// Configurations per batch (under Hyperband, in its most aggressive bracket; the others get fewer).
    BatchSize: int
    Pruning: Pruning
    Seed: uint64
}

/// How a space becomes points.
[<RequireQualifiedAccess>]
type Strategy =
    /// Every combination; each continuous range contributes `steps` evenly spaced values (log-spaced for LogRange).
    | Grid of steps: int
    /// `count` independent draws from a seeded generator.
    | Random of count: int * seed: uint64
    /// The first `count` points of the Sobol sequence (after the origin): they fill the space more evenly than random draws.
    | Sobol of count: int
    /// Batches proposed from earlier results, losers stopped early: see `Search`.
    | Adaptive of Search

[<RequireQualifiedAccess>]
module Strategy =

    /// A fixed text form of the strategy, owned here (never `%A`, whose layout may change with
    /// FSharp.Core): what definition hashes are taken of. A new case must add its own form.
    let describe (strategy: Strategy) =
        let exact (x: float) = x.ToString("R", CultureInfo.InvariantCulture)

        let sampler =
            function
            | Sampler.Random -> "random"
            | Sampler.Sobol -> "sobol"
            | Sampler.Tpe o -> sprintf "tpe(%d,%d,%s,%s)" o.Startup o.Candidates (exact o.Gamma) (exact o.PriorWeight)

        let pruning =
            function
            | Pruning.Off -> "off"
            | Pruning.Halving(minEpochs, eta) -> sprintf "halving(%d,%d)" minEpochs eta
            | Pruning.Hyperband(minEpochs, eta) -> sprintf "hyperband(%d,%d)" minEpochs eta

        match strategy with
        | Strategy.Grid steps -> sprintf "grid(%d)" steps
        | Strategy.Random(count, seed) -> sprintf "random(%d,%d)" count seed
        | Strategy.Sobol count -> sprintf "sobol(%d)" count
        | Strategy.Adaptive s ->
            sprintf
                "adaptive(%s,%d,%d,%s,%d)"
                (sampler s.Sampler)
                s.Configurations
                s.BatchSize
                (pruning s.Pruning)
                s.Seed

[<RequireQualifiedAccess>]
module Value =

    let format (value: Value) =
        match value with
        | Int i -> string i
        | Float f -> f.ToString("G6", CultureInfo.InvariantCulture)
        | SkipValue s -> string s
        | OptimizerValue o -> string o
        | ScheduleValue s -> string s

[<RequireQualifiedAccess>]
module Setting =

    let name (setting: Setting) =
        match setting with
        | M -> "M"
        | L -> "L"
        | Skip -> "skip"
        | Optimizer -> "optimizer"
        | LearningRate -> "learning rate"
        | Momentum -> "momentum"
        | WeightDecay -> "weight decay"
        | Schedule -> "schedule"
        | WarmupEpochs -> "warm-up epochs"
        | BatchSize -> "batch size"
        | Epochs -> "epochs"

    /// Every setting, in declaration order.
    let all: Setting list =
        FSharpType.GetUnionCases typeof<Setting>
        |> Array.map (fun case -> FSharpValue.MakeUnion(case, [||]) |> unbox<Setting>)
        |> List.ofArray

    /// The setting a stored name stands for; None for a name `name` never gives.
    let ofName (text: string) : Setting option = all |> List.tryFind (fun setting -> name setting = text)

    let private mismatch setting (value: Value) : 'a =
        invalidArg (nameof value) (sprintf "setting '%s' cannot take the value %s" (name setting) (Value.format value))

    /// The settings with one setting changed; a value of the wrong kind is refused, naming both.
    let apply (setting: Setting) (value: Value) (s: Settings) : Settings =
        match setting, value with
        | M, Int i -> { s with M = i }
        | L, Int i -> { s with L = i }
        | Skip, SkipValue k -> { s with Skip = k }
        | Optimizer, OptimizerValue o -> { s with Optimizer = o }
        | LearningRate, Float f -> { s with LearningRate = f }
        | Momentum, Float f -> { s with Momentum = f }
        | WeightDecay, Float f -> { s with WeightDecay = f }
        | Schedule, ScheduleValue k -> { s with Schedule = k }
        | WarmupEpochs, Int i -> { s with WarmupEpochs = i }
        | BatchSize, Int i -> { s with BatchSize = i }
        | Epochs, Int i -> { s with Epochs = i }
        | _ -> mismatch setting value

    /// The setting's value in the given settings, so every trial can show all of them.
    let read (setting: Setting) (s: Settings) : Value =
        match setting with
        | M -> Int s.M
        | L -> Int s.L
        | Skip -> SkipValue s.Skip
        | Optimizer -> OptimizerValue s.Optimizer
        | LearningRate -> Float s.LearningRate
        | Momentum -> Float s.Momentum
        | WeightDecay -> Float s.WeightDecay
        | Schedule -> ScheduleValue s.Schedule
        | WarmupEpochs -> Int s.WarmupEpochs
        | BatchSize -> Int s.BatchSize
        | Epochs -> Int s.Epochs

[<RequireQualifiedAccess>]
module Domain =

    let private check (domain: Domain) =
        match domain with
        | Choice [] -> invalidArg (nameof domain) "a choice needs at least one value"
        | IntRange(low, high) when low > high ->
            invalidArg (nameof domain) (sprintf "IntRange(%d, %d): low is above high" low high)
        | FloatRange(low, high) when not (Double.IsFinite low && Double.IsFinite high) ->
            invalidArg (nameof domain) (sprintf "FloatRange(%g, %g): expected finite bounds" low high)
        | FloatRange(low, high) when low > high ->
            invalidArg (nameof domain) (sprintf "FloatRange(%g, %g): low is above high" low high)
        | LogRange(low, high) when not (0.0 < low && low <= high) ->
            invalidArg (nameof domain) (sprintf "LogRange(%g, %g): expected 0 < low ≤ high" low high)
        | _ -> ()

    /// A fixed text form, every float in round-trip precision: what definition hashes are taken of.
    let describe (domain: Domain) =
        let r (x: float) = x.ToString("R", CultureInfo.InvariantCulture)

        match domain with
        | Choice values ->
            values
            |> List.map (function
                | Float f -> r f
                | v -> Value.format v)
            |> String.concat "|"
            |> sprintf "choice(%s)"
        | IntRange(low, high) -> sprintf "int(%d,%d)" low high
        | FloatRange(low, high) -> sprintf "float(%s,%s)" (r low) (r high)
        | LogRange(low, high) -> sprintf "log(%s,%s)" (r low) (r high)

    /// The domain as people read it: {32, 64}, [1..8], [0.1, 0.9] or [0.001, 0.03] (log).
    let show (domain: Domain) =
        match domain with
        | Choice values -> values |> List.map Value.format |> String.concat ", " |> sprintf "{%s}"
        | IntRange(low, high) -> sprintf "[%d..%d]" low high
        | FloatRange(low, high) -> sprintf "[%s, %s]" (Value.format (Float low)) (Value.format (Float high))
        | LogRange(low, high) -> sprintf "[%s, %s] (log)" (Value.format (Float low)) (Value.format (Float high))

    /// The value at position u ∈ [0, 1) of the domain: how random and Sobol points become values.
    let at (domain: Domain) (u: float) : Value =
        check domain

        match domain with
        | Choice values -> values[min (values.Length - 1) (int (u * float values.Length))]
        | IntRange(low, high) ->
            // in int64: high − low + 1 overflows int for the widest ranges
            let width = int64 high - int64 low
            Int(int (int64 low + min width (int64 (u * float (width + 1L)))))
        | FloatRange(low, high) -> Float(low + u * (high - low))
        | LogRange(low, high) -> Float(exp (log low + u * (log high - log low)))

    /// The grid's values: every choice, every integer (at most `steps`, evenly spread), `steps` points of a float range.
    let grid (steps: int) (domain: Domain) : Value list =
        check domain

        let spread count =
            List.init count (fun i -> if count = 1 then 0.0 else float i / float (count - 1))

        match domain with
        | Choice values -> values
        | IntRange(low, high) when int64 high - int64 low + 1L <= int64 steps -> [ for i in low..high -> Int i ]
        | IntRange(low, high) ->
            spread steps
            |> List.map (fun u -> Int(int (int64 low + int64 (Math.Round(u * float (int64 high - int64 low))))))
            |> List.distinct
        | FloatRange(low, high) -> spread steps |> List.map (fun u -> Float(low + u * (high - low)))
        | LogRange(low, high) ->
            spread steps
            |> List.map (fun u -> Float(exp (log low + u * (log high - log low))))

/// Points of the Sobol low-discrepancy sequence in up to 16 dimensions (Joe & Kuo's direction
/// numbers, new-joe-kuo-6.21201), generated in Gray-code order.
[<RequireQualifiedAccess>]
module Sobol =

    /// (degree s, coefficients a, initial direction numbers m) for dimensions 2..16; dimension 1 is van der Corput.
    let private directions = [|
        1, 0, [| 1 |]
        2, 1, [| 1; 3 |]
        3, 1, [| 1; 3; 1 |]
        3, 2, [| 1; 1; 1 |]
        4, 1, [| 1; 1; 3; 3 |]
        4, 4, [| 1; 3; 5; 13 |]
        5, 2, [| 1; 1; 5; 5; 17 |]
        5, 4, [| 1; 1; 5; 5; 5 |]
        5, 7, [| 1; 1; 7; 11; 19 |]
        5, 11, [| 1; 1; 5; 1; 1 |]
        5, 13, [| 1; 1; 1; 3; 11 |]
        5, 14, [| 1; 3; 5; 5; 31 |]
        6, 1, [| 1; 3; 3; 9; 7; 49 |]
        6, 13, [| 1; 1; 1; 15; 21; 21 |]
        6, 16, [| 1; 3; 1; 13; 27; 49 |]
    |]

    let maxDimensions = directions.Length + 1
    let private bits = 32

    let private directionNumbers dimension : uint32[] =
        if dimension = 0 then
            Array.init bits (fun i -> 1u <<< (bits - 1 - i))
        else
            let s, a, m = directions[dimension - 1]
            let v = Array.zeroCreate<uint32> bits

            for i in 0 .. bits - 1 do
                if i < s then
                    v[i] <- uint32 m[i] <<< (bits - 1 - i)
                else
                    let mutable next = v[i - s] ^^^ (v[i - s] >>> s)

                    for k in 1 .. s - 1 do
                        if (a >>> (s - 1 - k)) &&& 1 = 1 then
                            next <- next ^^^ v[i - k]

                    v[i] <- next

            v

    /// The first `count` points after the origin, each in [0, 1)^dimensions.
    let points (dimensions: int) (count: int) : float[] list =
        if dimensions < 1 || dimensions > maxDimensions then
            invalidArg
                (nameof dimensions)
                (sprintf "Sobol points: expected 1 to %d dimensions, found %d" maxDimensions dimensions)

        let v = Array.init dimensions directionNumbers
        let x = Array.zeroCreate<uint32> dimensions

        [
            for i in 0 .. count - 1 do
                let lowestZeroBit = System.Numerics.BitOperations.TrailingZeroCount(~~~(uint32 i))

                for d in 0 .. dimensions - 1 do
                    x[d] <- x[d] ^^^ v[d][lowestZeroBit]

                yield x |> Array.map (fun xi -> float xi / 4294967296.0)
        ]

/// Shorthands that read well in a space: `Skip, skips [ SkipKind.Dense; SkipKind.None ]`.
[<AutoOpen>]
module Domains =
    let ints (values: int list) = Choice(values |> List.map Int)
    let floats (values: float list) = Choice(values |> List.map Float)
    let skips (kinds: SkipKind list) = Choice(kinds |> List.map SkipValue)

    let optimizers (kinds: OptimizerKind list) = Choice(kinds |> List.map OptimizerValue)

    let schedules (kinds: ScheduleKind list) = Choice(kinds |> List.map ScheduleValue)

[<RequireQualifiedAccess>]
module Space =

    /// The space's points under a strategy, each a value per setting, in a fixed order.
    let points (strategy: Strategy) (space: Space) : (Setting * Value) list list =
        let settings = space |> List.map fst

        if List.distinct settings <> settings then
            invalidArg (nameof space) "a setting appears twice in the space"

        let atPoint (u: float[]) = List.mapi (fun i (setting, domain) -> setting, Domain.at domain u[i]) space

        match strategy with
        | Strategy.Random(count, _)
        | Strategy.Sobol count when space.IsEmpty -> List.replicate (min count 1) []
        | Strategy.Grid steps ->
            if steps < 1 then
                invalidArg (nameof strategy) (sprintf "Grid: expected at least 1 step, found %d" steps)

            List.foldBack
                (fun (setting, domain) rest -> [
                    for v in Domain.grid steps domain do
                        for r in rest -> (setting, v) :: r
                ])
                space
                [ [] ]
        | Strategy.Random(count, seed) ->
            let rng = Rng seed
            List.init count (fun _ -> space |> List.map (fun _ -> rng.NextDouble()) |> Array.ofList |> atPoint)
        | Strategy.Sobol count -> Sobol.points space.Length count |> List.map atPoint
        | Strategy.Adaptive _ ->
            invalidArg
                (nameof strategy)
                "an adaptive search proposes its points batch by batch, from results: see Search.plan"

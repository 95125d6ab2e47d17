namespace Hybrid

open System
open System.Globalization
open System.Reflection
open System.Text
open Hybrid.Engine.Model
open Hybrid.Engine.Training

/// A sweep's data: a name for the records, and the split every trial trains, validates and tests on.
type Data = { Name: string; Split: Split }

/// A hyperparameter sweep as a plain value: it can be expanded, counted, filtered, hashed and
/// printed without training anything.
type Sweep = {
    Name: string
    Data: Data
    /// The settings every trial starts from; the space overrides some of them.
    Base: Settings
    Space: Space
    Strategy: Strategy
    /// Every configuration runs once per seed: results without spread are not research.
    Seeds: uint64 list
    /// Named conditions a configuration must meet to be run; the names enter the definition's hash.
    Only: (string * (Settings -> bool)) list
    Notes: string
}

/// One configuration under one seed: the unit that is run, stored, resumed and verified.
type Trial = {
    /// The configuration's position in the expansion (shared by its seeds).
    Configuration: int
    Values: (Setting * Value) list
    Seed: uint64
    Settings: Settings
    /// Hash of the settings, the dataset, the engine version and the seed: a trial with this key
    /// has been run already if the store has it.
    Key: string
}

type Status =
    | Completed
    | Diverged
    | Failed
    /// Stopped at a rung of an adaptive search: its epochs are an exact prefix of its full run.
    | Pruned

/// What one trial produced. Validation figures are at the kept epoch (the best validation loss).
type TrialResult = {
    Trial: Trial
    Status: Status
    /// Why a trial diverged or failed; empty when it completed.
    Reason: string
    History: EpochMetrics list
    Stop: StopReason
    KeptEpoch: int
    ValidationLoss: float
    ValidationAccuracy: float
    TestLoss: float
    TestAccuracy: float
    Seconds: float
}

[<RequireQualifiedAccess>]
module Engine =

    /// The engine's version: it enters every trial's key, so a new engine never reuses old results.
    let version =
        let assembly = typeof<Network>.Assembly

        match assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>() with
        | null -> string (assembly.GetName().Version)
        | attribute -> attribute.InformationalVersion

[<RequireQualifiedAccess>]
module Data =

    /// One hash over the three parts, so a different split is different data.
    let hash (data: Data) =
        [ data.Split.Train; data.Split.Validation; data.Split.Test ]
        |> List.map Dataset.hash
        |> String.concat ":"
        |> Hashing.sha256

[<RequireQualifiedAccess>]
module Sweep =

    let private invariant (x: float) = x.ToString("R", CultureInfo.InvariantCulture)

    /// The keep rule's field, written only when it is not the default: settings described before the
    /// rule existed keep their text, so their trials keep their keys.
    let private keepField (s: Settings) =
        match s.Keep with
        | KeepRule.LowestValidationLoss -> ""
        | rule -> sprintf ";keep=%O" rule

    /// Every field of the settings in a fixed textual form: the canonical encoding keys are hashed from.
    let describe (s: Settings) =
        sprintf
            "M=%d;L=%d;skip=%O;optimizer=%O;lr=%s;momentum=%s;nesterov=%b;decay=%s;schedule=%O;warmup=%d;batch=%d;epochs=%d;patience=%s;seed=%d;threads=%d%s"
            s.M
            s.L
            s.Skip
            s.Optimizer
            (invariant s.LearningRate)
            (invariant s.Momentum)
            s.Nesterov
            (invariant s.WeightDecay)
            s.Schedule
            s.WarmupEpochs
            s.BatchSize
            s.Epochs
            (s.Patience |> Option.map string |> Option.defaultValue "none")
            s.Seed
            s.Threads
            (keepField s)

    let private parseField
        source
        location
        (text: string)
        (fields: Map<string, string>)
        (name: string)
        (parse: string -> 'a)
        : 'a =
        let fail problem = raise (InvalidFileException(source, location, problem))

        match fields.TryFind name with
        | None -> fail (sprintf "stored settings: missing field '%s' in \"%s\"" name text)
        | Some value ->
            try
                parse value
            with
            | :? FormatException
            | :? OverflowException
            | :? ArgumentException ->
                fail (sprintf "stored settings: field '%s' has the unreadable value '%s'" name value)

    let private named (values: 'e[]) (text: string) : 'e =
        match values |> Array.tryFind (fun v -> string v = text) with
        | Some v -> v
        | None ->
            raise (
                FormatException(sprintf "'%s' is none of %s" text (values |> Array.map string |> String.concat ", "))
            )

    /// The inverse of `describe`: settings back from their stored text, so a trial can be re-run from
    /// its record alone. Text `describe` did not write raises an InvalidFileException naming `source`
    /// (the store's file) and `location` (the trial).
    let parseSettings (source: string) (location: string) (text: string) : Settings =
        let fields =
            text.Split(';', StringSplitOptions.RemoveEmptyEntries)
            |> Array.map (fun pair ->
                match pair.Split('=', 2) with
                | [| key; value |] -> key, value
                | _ ->
                    raise (
                        InvalidFileException(source, location, sprintf "stored settings: '%s' is not key=value" pair)
                    ))
            |> Map.ofArray

        let field name parse = parseField source location text fields name parse

        let number (v: string) = Double.Parse(v, CultureInfo.InvariantCulture)

        {
            M = field "M" int
            L = field "L" int
            Skip = field "skip" (named (Enum.GetValues<SkipKind>()))
            Optimizer = field "optimizer" (named (Enum.GetValues<OptimizerKind>()))
            LearningRate = field "lr" number
            Momentum = field "momentum" number
            Nesterov = field "nesterov" Boolean.Parse
            WeightDecay = field "decay" number
            Schedule = field "schedule" (named (Enum.GetValues<ScheduleKind>()))
            WarmupEpochs = field "warmup" int
            BatchSize = field "batch" int
            Epochs = field "epochs" int
            Keep =
                if fields.ContainsKey "keep" then
                    field "keep" (named (Enum.GetValues<KeepRule>()))
                else
                    KeepRule.LowestValidationLoss
            Patience = field "patience" (fun v -> if v = "none" then None else Some(int v))
            Seed = field "seed" UInt64.Parse
            Threads = field "threads" int
        }

    /// The key of a trial run by the engine of the given version. Threads change speed, never
    /// results (the engine is bit-identical across thread counts), so they stay out of the key.
    let trialKeyUnder (engineVersion: string) (dataHash: string) (settings: Settings) =
        Hashing.sha256 (sprintf "%s|%s|%s" (describe { settings with Threads = 1 }) dataHash engineVersion)

    /// The key of a trial run by this engine: a new engine never reuses an old one's results.
    let trialKey (dataHash: string) (settings: Settings) = trialKeyUnder Engine.version dataHash settings

    let private configurations (sweep: Sweep) =
        Space.points sweep.Strategy sweep.Space
        |> List.map (fun values ->
            values,
            values
            |> List.fold (fun s (setting, value) -> Setting.apply setting value s) sweep.Base)
        |> List.filter (fun (_, settings) -> sweep.Only |> List.forall (fun (_, keep) -> keep settings))
        // random and Sobol draws over choices repeat configurations: each is run once, as in scikit-learn's sampler
        |> List.distinctBy snd

    /// Every trial: each configuration of the space (in the strategy's order) under each seed. An
    /// adaptive search has none before it has results: its trials come from `Search.plan`.
    let expand (sweep: Sweep) : Trial list =
        if sweep.Seeds.IsEmpty then
            invalidArg (nameof sweep) "a sweep needs at least one seed"

        match sweep.Strategy with
        | Strategy.Adaptive _ ->
            invalidArg
                (nameof sweep)
                "an adaptive search proposes its trials batch by batch from results: see Search.plan"
        | Strategy.Grid _
        | Strategy.Random _
        | Strategy.Sobol _ -> ()

        let dataHash = Data.hash sweep.Data

        configurations sweep
        |> List.mapi (fun i (values, settings) ->
            sweep.Seeds
            |> List.map (fun seed ->
                let seeded = { settings with Seed = seed }

                {
                    Configuration = i
                    Values = values
                    Seed = seed
                    Settings = seeded
                    Key = trialKey dataHash seeded
                }))
        |> List.concat

    /// How many trials the sweep runs; for an adaptive search, the most it may run.
    let count (sweep: Sweep) =
        match sweep.Strategy with
        | Strategy.Adaptive search -> search.Configurations * sweep.Seeds.Length
        | Strategy.Grid _
        | Strategy.Random _
        | Strategy.Sobol _ -> expand sweep |> List.length

    /// A sweep of `data` with sensible defaults, to change with `{ Sweep.create name data with ... }`:
    /// the default settings, no space yet (the base settings alone), a 3-step grid, seeds 0, 1 and 2,
    /// no conditions and no notes.
    let create (name: string) (data: Data) : Sweep = {
        Name = name
        Data = data
        Base = Settings.defaults
        Space = []
        Strategy = Strategy.Grid 3
        Seeds = [ 0UL; 1UL; 2UL ]
        Only = []
        Notes = ""
    }

    /// Keeps only the configurations that meet a named condition.
    let only (name: string) (keep: Settings -> bool) (sweep: Sweep) = { sweep with Only = sweep.Only @ [ name, keep ] }

    /// Hash of everything that decides which trials a sweep runs, over a text form this library
    /// owns: two different sweeps under one name are told apart by it. (Stores registered before
    /// the strategy had its own text form hold a hash of its `%A` layout: they see a changed
    /// definition, which `Store.register` accepts when the registered trials are exactly this sweep's.)
    let definitionHash (sweep: Sweep) =
        let text =
            String.concat "\n" [
                yield describe { sweep.Base with Threads = 1 }
                yield!
                    sweep.Space
                    |> List.map (fun (setting, domain) ->
                        sprintf "%s=%s" (Setting.name setting) (Domain.describe domain))
                yield Strategy.describe sweep.Strategy
                yield sweep.Seeds |> List.map string |> String.concat ","
                yield! sweep.Only |> List.map fst
                yield Data.hash sweep.Data
            ]

        Hashing.sha256 text

    let private header (sweep: Sweep) (trials: Trial list) (configurations: Trial list) =
        sprintf
            "sweep '%s': %d configurations × %d seeds = %d trials on %s"
            sweep.Name
            configurations.Length
            sweep.Seeds.Length
            trials.Length
            sweep.Data.Name

    let private configurationLine (t: Trial) =
        let values =
            t.Values
            |> List.map (fun (s, v) -> sprintf "%s=%s" (Setting.name s) (Value.format v))
            |> String.concat ", "

        sprintf "  #%-4d %s" t.Configuration values

    let private printSearch (sweep: Sweep) (search: Search) =
        let space =
            sweep.Space
            |> List.map (fun (setting, domain) -> sprintf "  %s: %s" (Setting.name setting) (Domain.describe domain))
            |> String.concat "\n"

        sprintf
            "sweep '%s': adaptive search, up to %d configurations × %d seeds = %d trials on %s\n  strategy %s\n%s\n"
            sweep.Name
            search.Configurations
            sweep.Seeds.Length
            (count sweep)
            sweep.Data.Name
            (Strategy.describe sweep.Strategy)
            space

    let private printExpansion (sweep: Sweep) =
        let trials = expand sweep
        let configurations = trials |> List.distinctBy _.Configuration
        let text = StringBuilder()
        let line (s: string) = text.AppendLine s |> ignore
        line (header sweep trials configurations)
        configurations |> List.iter (configurationLine >> line)
        text.ToString()

    let private outlineExpansion (shown: int) (sweep: Sweep) =
        let trials = expand sweep
        let configurations = trials |> List.distinctBy _.Configuration

        let space =
            sweep.Space
            |> List.map (fun (setting, domain) -> sprintf "%s %s" (Setting.name setting) (Domain.show domain))
            |> String.concat "; "

        let text = StringBuilder()
        let line (s: string) = text.AppendLine s |> ignore
        line (header sweep trials configurations)

        line (
            sprintf
                "  space: %s; strategy %s"
                (if space = "" then "none (the base settings)" else space)
                (Strategy.describe sweep.Strategy)
        )

        configurations |> List.truncate shown |> List.iter (configurationLine >> line)

        if configurations.Length > shown then
            line (
                sprintf
                    "  … and %d more (Sweep.print lists them all; the report has every one)"
                    (configurations.Length - shown)
            )

        text.ToString()

    /// What a terminal shows before a sweep runs: the counts, the space, the strategy and the first
    /// `shown` configurations, with how to list them all; for an adaptive search, the search and its space.
    let outline (shown: int) (sweep: Sweep) =
        match sweep.Strategy with
        | Strategy.Adaptive search -> printSearch sweep search
        | Strategy.Grid _
        | Strategy.Random _
        | Strategy.Sobol _ -> outlineExpansion shown sweep

    /// The expansion as a table, one line per configuration, without training anything; for an
    /// adaptive search, the search and its space.
    let print (sweep: Sweep) =
        match sweep.Strategy with
        | Strategy.Adaptive search -> printSearch sweep search
        | Strategy.Grid _
        | Strategy.Random _
        | Strategy.Sobol _ -> printExpansion sweep

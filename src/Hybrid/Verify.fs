/// Proof that results reproduce: finished trials re-run from their stored records alone, their
/// weights and every epoch's metrics compared bit for bit with what was stored.
[<RequireQualifiedAccess>]
module Hybrid.Verify

open System
open Hybrid.Engine.Training

let private bits (values: float32[]) = values |> Array.map BitConverter.SingleToInt32Bits

let private weightDifferences (stored: Model) (rerun: Model) =
    let a, b = bits stored.Parameters, bits rerun.Parameters

    if a.Length <> b.Length then
        [ sprintf "the weights have %d values, the stored model %d" b.Length a.Length ]
    else
        match Array.fold2 (fun n x y -> if x = y then n else n + 1) 0 a b with
        | 0 -> []
        | n -> [ sprintf "%d of %d weights differ" n a.Length ]

let private metricDifferences (stored: EpochMetrics list) (rerun: EpochMetrics list) =
    if stored.Length <> rerun.Length then
        [ sprintf "%d epochs ran, %d were stored" rerun.Length stored.Length ]
    else
        List.zip stored rerun
        |> List.filter (fun (s, r) -> s <> r)
        |> List.map (fun (s, _) -> sprintf "epoch %d's metrics differ" s.Epoch)
        |> List.truncate 3

/// Re-runs one stored trial against its stored model and returns whether it is identical, with what
/// was compared or what differed.
let trial (prepared: Run.Prepared) (stored: StoredTrial) (model: Model option) : bool * string =
    match model with
    | None -> false, "no stored model to compare with"
    | Some model ->
        let rerun, result =
            Model.train stored.Settings prepared.Scaler prepared.Train prepared.Validation null None

        let differences =
            weightDifferences model rerun
            @ metricDifferences stored.History (List.ofSeq result.History)

        if differences.IsEmpty then
            true,
            sprintf
                "weights (%d values) and %d epochs of metrics bit-identical"
                rerun.Parameters.Length
                stored.History.Length
        else
            false, String.concat "; " differences

/// The trials to verify first: those of the best configurations (by `Ranking`), the best seed first.
let candidates (trials: StoredTrial list) =
    Ranking.rank StoredTrial.rankEntry trials
    |> List.collect (fun r -> r.Completed |> List.sortByDescending _.ValidationAccuracy)

/// Verifies the `count` best completed trials of the sweep, recording each verdict in the store.
let check (store: Store) (sweep: Sweep) (count: int) =
    let expected = Data.hash sweep.Data

    match
        Store.manifest store sweep.Name
        |> List.tryFind (fun (key, _) -> key = "data hash")
    with
    | Some(_, stored) when stored <> expected ->
        invalidArg
            (nameof sweep)
            (sprintf "sweep '%s' was run on data with hash %s, not the data given (%s)" sweep.Name stored expected)
    | _ -> ()

    let prepared = Run.prepare sweep.Data

    Store.results store sweep.Name
    |> List.filter (fun t -> t.DefinitionHash = Sweep.definitionHash sweep)
    |> candidates
    |> List.truncate count
    |> List.map (fun stored ->
        let model =
            Store.model store stored.Key
            |> Option.map (ModelFile.ofBytes (sprintf "%s, model of trial %s" store.Location stored.Key))

        let identical, detail = trial prepared stored model
        Store.recordVerification store stored.Key identical detail
        stored, identical, detail)

/// Re-derives an adaptive search's decisions from the stored results alone and compares them with
/// those recorded: they agree when every proposal and promotion follows from the definition, the
/// seed and the results, whoever made it and whenever.
let decisions (store: Store) (sweep: Sweep) : bool * string =
    match sweep.Strategy with
    | Strategy.Adaptive search ->
        let derived =
            (Store.plan store sweep search).Decisions |> List.map Decision.describe

        let recorded = Store.decisions store sweep.Name |> List.map _.Detail

        if derived = recorded then
            true, sprintf "%d decisions re-derived from the stored results, each as recorded" derived.Length
        else
            let at =
                Seq.zip derived recorded
                |> Seq.tryFindIndex (fun (d, r) -> d <> r)
                |> Option.defaultValue (min derived.Length recorded.Length)

            let show (list: string list) = if at < list.Length then list[at] else "(none)"

            false,
            sprintf
                "%d decisions derived, %d recorded; decision %d differs: derived \"%s\", recorded \"%s\""
                derived.Length
                recorded.Length
                (at + 1)
                (show derived)
                (show recorded)
    | Strategy.Grid _
    | Strategy.Random _
    | Strategy.Sobol _ -> true, "a fixed list of trials: nothing was decided from results"

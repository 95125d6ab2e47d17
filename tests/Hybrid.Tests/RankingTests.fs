module Hybrid.Tests.RankingTests

open System
open Expecto
open Hybrid

let private entry configuration seed validation = {
    Configuration = configuration
    Seed = seed
    Validation = validation
}

/// Configuration 0 has the best single trial, configuration 1 the best mean.
let private lucky = [ entry 0 0UL 0.99; entry 0 1UL 0.80; entry 0 2UL 0.80 ]
let private steady = [ entry 1 0UL 0.90; entry 1 1UL 0.90; entry 1 2UL 0.90 ]

let private order entries = Ranking.rank Some entries |> List.map _.Configuration

let tests =
    testList "Ranking" [
        testCase "the mean over seeds ranks, not the best single trial"
        <| fun () ->
            Expect.equal (order (lucky @ steady)) [ 1; 0 ] "order"
            Expect.floatClose Accuracy.veryHigh (Ranking.best Some (lucky @ steady)).Value.MeanValidation 0.90 "mean"
        testCase "trials that did not complete do not count"
        <| fun () ->
            let completedOnly (e: RankEntry) = if e.Seed = 0UL then None else Some e
            Expect.equal (order (lucky @ steady) |> List.length) 2 "both ranked"

            Expect.equal
                (Ranking.rank completedOnly (lucky @ steady)
                 |> List.map (fun r -> r.Configuration, r.Completed.Length))
                [ 1, 2; 0, 2 ]
                "seed 0 left out"
        testCase "a non-finite figure does not count"
        <| fun () ->
            let ranked =
                Ranking.rank Some [ entry 0 0UL nan; entry 0 1UL 0.5; entry 1 0UL infinity ]

            Expect.equal
                (ranked |> List.map (fun r -> r.Configuration, r.Completed.Length))
                [ 0, 1 ]
                "only the finite figure"
        testCase "a tie on the mean goes to more completed seeds"
        <| fun () ->
            Expect.equal (order [ entry 0 0UL 0.9; entry 1 0UL 0.9; entry 1 1UL 0.9 ]) [ 1; 0 ] "more seeds first"
        testCase "a tie on the mean and the seeds goes to the lower configuration"
        <| fun () ->
            Expect.equal (order [ entry 5 0UL 0.9; entry 2 0UL 0.9; entry 7 0UL 0.9 ]) [ 2; 5; 7 ] "lower index first"
        testCase "the order trials finished in changes neither the order nor the mean's bits"
        <| fun () ->
            // Summed in another order, these three differ in the last bit.
            let entries = [
                entry 0 0UL 0.1
                entry 0 1UL 0.2
                entry 0 2UL 0.3
                entry 1 0UL 0.2
                entry 1 1UL 0.2
                entry 1 2UL 0.2
            ]

            let bits (ranked: Ranked<RankEntry> list) =
                ranked
                |> List.map (fun r -> r.Configuration, BitConverter.DoubleToInt64Bits r.MeanValidation)

            let expected = bits (Ranking.rank Some entries)

            for shuffled in
                [
                    List.rev entries
                    entries |> List.sortBy (fun e -> -e.Validation)
                    entries |> List.sortBy _.Seed
                ] do
                Expect.equal (bits (Ranking.rank Some shuffled)) expected "same ranking, same bits"
        testCase "completed trials are kept in seed order"
        <| fun () ->
            let ranked = Ranking.rank Some [ entry 0 2UL 0.5; entry 0 0UL 0.5; entry 0 1UL 0.5 ]
            Expect.equal (ranked.Head.Completed |> List.map _.Seed) [ 0UL; 1UL; 2UL ] "seeds"
        testCase "the progress line names the ranking's best, with its mean"
        <| fun () ->
            let tally = Tally.start (Budget.Trials 6) 6 (lucky @ steady)
            Expect.stringContains (Tally.describe tally) "best #1 90.00% (mean of 3)" "progress line"
        testCase "an adaptive search's progress counts epochs against its budget, stored ones included"
        <| fun () ->
            let tally = { Tally.start (Budget.Epochs(40, 576)) 3 [] with EpochsRun = 100 }
            Expect.equal (Tally.position tally) (140, 576) "position"
            Expect.stringContains (Tally.describe tally) "140 of at most 576 epochs, 3 trials completed" "progress line"
            Expect.isSome (Tally.eta tally) "an ETA from the epochs' pace"
    ]

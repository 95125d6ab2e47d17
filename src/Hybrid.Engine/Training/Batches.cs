using Hybrid.Engine.Kernels;
using Hybrid.Engine.Model;

namespace Hybrid.Engine.Training;

/// <summary>
/// Shuffled mini-batches. Each epoch's order is drawn from its own generator, seeded by the run's
/// seed and the epoch number, so an epoch's batches never depend on what ran before it (a resumed
/// run sees the same batches).
/// </summary>
internal sealed class Batches
{
    private readonly LabeledData _data;
    private readonly int[] _order;
    private readonly ulong _seed;
    private readonly Rng _rng = new(0);

    public Batches(LabeledData data, int batchSize, ulong seed)
    {
        _data = data;
        _order = new int[data.Rows];
        _seed = seed;
        BatchSize = Math.Min(batchSize, data.Rows);
        X = new float[BatchSize * data.Columns];
        Labels = new int[BatchSize];
    }

    public int BatchSize { get; }

    public int PerEpoch => (_data.Rows + BatchSize - 1) / BatchSize;

    /// <summary>The current batch's rows (only the first Rows·D are valid for a short last batch).</summary>
    public float[] X { get; }

    public int[] Labels { get; }

    public void Shuffle(int epoch)
    {
        for (var i = 0; i < _order.Length; i++) _order[i] = i;
        _rng.Reseed(EpochSeed(_seed, epoch));
        _rng.Shuffle(_order.AsSpan());
    }

    /// <summary>Gathers batch <paramref name="index"/> of the current order into X and Labels; returns its row count.</summary>
    /// <remarks>Both cores copy rows (a 784-wide batch of 128 is 400 KB), so each sends the other only half of X.</remarks>
    public int Gather(int index, IElementwiseKernels kernels)
    {
        var start = index * BatchSize;
        var rows = Math.Min(BatchSize, _order.Length - start);
        var order = _order.AsSpan(start, rows);
        kernels.GatherRows(_data.Features, _data.Columns, order, X);
        for (var r = 0; r < rows; r++) Labels[r] = _data.Labels[order[r]];
        return rows;
    }

    private static ulong EpochSeed(ulong seed, int epoch) => seed ^ (0x9E3779B97F4A7C15UL * (ulong)(epoch + 1));
}

using Hybrid.Engine.Kernels;
using Hybrid.Engine.Training;

namespace Hybrid.Engine.Tests.Training;

/// <summary>
/// The shuffled mini-batches: every epoch visits every row once, in an order fixed by the seed and
/// the epoch number alone, so a resumed run sees the same batches.
/// </summary>
public class BatchesTests
{
    private const int Rows = 10;
    private const int Columns = 2;
    private static readonly FastElementwise Kernels = new();

    // Row r has features (r, −r) and label r % 3, so a gathered row names its source.
    private static readonly LabeledData Data = new(
        Enumerable.Range(0, Rows).SelectMany(r => new[] { (float)r, -(float)r }).ToArray(),
        Enumerable.Range(0, Rows).Select(r => r % 3).ToArray(),
        Columns);

    [Theory]
    [InlineData(1, 1, 10)]
    [InlineData(4, 4, 3)]
    [InlineData(10, 10, 1)]
    [InlineData(1000, 10, 1)]
    public void The_batch_size_is_clamped_to_the_rows(int requested, int batchSize, int perEpoch)
    {
        var batches = new Batches(Data, requested, seed: 1);
        Assert.Equal((batchSize, perEpoch), (batches.BatchSize, batches.PerEpoch));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(10)]
    public void An_epoch_visits_every_row_once_with_its_own_label(int batchSize)
    {
        var batches = new Batches(Data, batchSize, seed: 1);
        batches.Shuffle(1);
        var seen = Order(batches);
        Assert.Equal(Enumerable.Range(0, Rows), seen.Order());
    }

    [Fact]
    public void The_last_batch_holds_the_remainder()
    {
        var batches = new Batches(Data, 4, seed: 1);
        batches.Shuffle(1);
        Assert.Equal([4, 4, 2], Enumerable.Range(0, batches.PerEpoch).Select(i => batches.Gather(i, Kernels)));
    }

    [Fact]
    public void Each_epoch_has_its_own_order()
    {
        var batches = new Batches(Data, 4, seed: 1);
        batches.Shuffle(1);
        var first = Order(batches);
        batches.Shuffle(2);
        Assert.NotEqual(first, Order(batches));
    }

    [Fact]
    public void A_different_seed_gives_a_different_order()
    {
        var (a, b) = (new Batches(Data, 4, seed: 1), new Batches(Data, 4, seed: 2));
        a.Shuffle(1);
        b.Shuffle(1);
        Assert.NotEqual(Order(a), Order(b));
    }

    [Fact]
    public void An_epochs_order_does_not_depend_on_the_epochs_before_it()
    {
        var (resumed, fresh) = (new Batches(Data, 4, seed: 1), new Batches(Data, 4, seed: 1));
        resumed.Shuffle(1);
        resumed.Shuffle(2);
        resumed.Shuffle(3);
        fresh.Shuffle(3);
        Assert.Equal(Order(fresh), Order(resumed));
    }

    // The source rows of one epoch's batches, in order, checking each gathered row is intact.
    private static List<int> Order(Batches batches)
    {
        var rows = new List<int>();
        for (var i = 0; i < batches.PerEpoch; i++)
        {
            var count = batches.Gather(i, Kernels);
            for (var r = 0; r < count; r++)
            {
                var source = (int)batches.X[r * Columns];
                Assert.Equal(-source, batches.X[r * Columns + 1]);
                Assert.Equal(source % 3, batches.Labels[r]);
                rows.Add(source);
            }
        }
        return rows;
    }
}

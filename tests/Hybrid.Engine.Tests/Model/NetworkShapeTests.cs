using Hybrid.Engine.Layers;
using Hybrid.Engine.Model;

namespace Hybrid.Engine.Tests.Model;

/// <summary>
/// Widths come from files (a model's settings), so a shape whose parameters would not fit one array
/// is refused when it is made, in checked 64-bit arithmetic, before any int size could wrap negative.
/// </summary>
public class NetworkShapeTests
{
    [Theory]
    [InlineData(int.MaxValue, 1, 1, 2, SkipKind.None)]
    [InlineData(1, int.MaxValue, 1, 2, SkipKind.None)]
    [InlineData(4, 3, int.MaxValue, 2, SkipKind.Diagonal)]
    [InlineData(4, 3, 2, int.MaxValue, SkipKind.None)]
    [InlineData(50_000, 100_000, 2, 3, SkipKind.Dense)]
    [InlineData(46_341, 46_341, 1, 2, SkipKind.None)]
    [InlineData(int.MaxValue, int.MaxValue, int.MaxValue, int.MaxValue, SkipKind.Dense)]
    public void RefusesWidthsBeyondOneArray(int d, int m, int l, int p, SkipKind skip)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new NetworkShape(d, m, l, p, skip));
        Assert.Contains($"need more than {Array.MaxLength} parameters", e.Message);
    }

    [Theory]
    [InlineData(4, 3, 2, 3, SkipKind.Dense)]
    [InlineData(64, 64, 32, 10, SkipKind.Diagonal)]
    [InlineData(784, 128, 64, 10, SkipKind.None)]
    [InlineData(40_000, 40_000, 2, 3, SkipKind.Dense)]
    public void CountsEveryParameterOfTheLayout(int d, int m, int l, int p, SkipKind skip)
    {
        var shape = new NetworkShape(d, m, l, p, skip);
        var layout = new ParameterLayout(shape);
        Assert.Equal(layout.Count, shape.ParameterCount);
        Assert.Equal(layout.Count, layout.Tensors.Sum(t => t.Dimensions.Aggregate(1L, (n, k) => n * k)));
    }
}

using System.Reflection;
using ClDiffusion.Cli.Commands;
using ClDiffusion.Samplers;
using ClDiffusion.Tests.Architecture;
using CommandLine;
using NUnit.Framework;

namespace ClDiffusion.Tests.Samplers;

/// <summary>
/// The one table of sampler options (<see cref="SamplerOptionTable"/>): every CLI flag sets the property its entry
/// names, texts round-trip, and the help, the docs' table and the C header's key list are the table's.
/// </summary>
public class OptionsTableTests
{
    /// <summary>A valid non-default value for every key (the C test native/tests/test_settings.c sets the same kind of values).</summary>
    internal static readonly Dictionary<string, string> NonDefault = new()
    {
        ["steps"] = "13", ["horizon"] = "6.5", ["delta"] = "0.002", ["grid"] = "logsnr", ["max-step"] = "0.75", ["midpoint"] = "1",
        ["x0-start"] = "fresh", ["parallel-corrector"] = "block", ["corrector-rounds"] = "2", ["lipschitz"] = "3", ["block"] = "0.4",
        ["corrector"] = "rmuld", ["corrector-steps"] = "3", ["corrector-time"] = "0.3", ["gamma"] = "1.7", ["fixed-corrector"] = "on",
        ["lipschitz-cap"] = "500", ["low-variance"] = "on", ["subwindows"] = "3", ["picard"] = "2", ["window"] = "5", ["tol"] = "0.01",
        ["denoise"] = "on", ["clamp-times"] = "on", ["order"] = "2", ["unipc-variant"] = "bh1", ["full-order-final"] = "on",
    };

    static readonly PropertyInfo[] Props = typeof(SamplerOptions).GetProperties().Where(p => p.SetMethod is not null).ToArray();

    /// <summary>The properties where `o` differs from the defaults.</summary>
    static string[] Changed(SamplerOptions o) =>
        Props.Where(p => !Equals(p.GetValue(o), p.GetValue(SamplerOptions.Defaults))).Select(p => p.Name).ToArray();

    /// <summary>What is wrong with `option` when its CLI flag is given `text`: null when exactly the named property changed.</summary>
    internal static string? FlagProblem(SamplerOptionInfo option, IReadOnlyList<SamplerOptionInfo> table, string text)
    {
        string[] args = option.IsSwitch ? ["--" + option.Name] : ["--" + option.Name, text];
        var o = SamplerOptions.Defaults;
        foreach (var (entry, t) in Extract(args, table)) o = entry.Parse(o, t);
        var changed = Changed(o);
        return changed.SequenceEqual([option.Property]) ? null
            : $"--{option.Name} {text} changed [{string.Join(", ", changed)}], not exactly {option.Property}";
    }

    /// <summary>The CLI's extraction over a given table (the real one, or a deliberately broken copy).</summary>
    static IEnumerable<(SamplerOptionInfo, string)> Extract(string[] args, IReadOnlyList<SamplerOptionInfo> table)
    {
        if (ReferenceEquals(table, SamplerOptionTable.All)) { SamplerFlags.Extract(args, out var given); return given; }
        var entry = table.Single(e => "--" + e.Name == args[0]);
        return [(entry, args.Length > 1 ? args[1] : "on")];
    }

    [Test]
    public void EveryFlagSetsThePropertyItsEntryNames()
    {
        Assert.That(NonDefault.Keys, Is.EquivalentTo(SamplerOptionTable.All.Select(o => o.Name)), "a non-default value for every key");
        foreach (var option in SamplerOptionTable.All)
        {
            Assert.That(Props.Select(p => p.Name), Does.Contain(option.Property), option.Name);
            Assert.That(FlagProblem(option, SamplerOptionTable.All, NonDefault[option.Name]), Is.Null);
        }
    }

    /// <summary>The check above is not vacuous: two entries whose setters were swapped are caught.</summary>
    [Test]
    public void ASwappedPairFailsTheFlagCheck()
    {
        var steps = (SamplerOption<int>)SamplerOptionTable.Get("steps");
        var window = (SamplerOption<int>)SamplerOptionTable.Get("window");
        // the entry says Steps but its setter writes Window, and the other way round
        var swapped = new SamplerOption<int>("steps", null, steps.Property, steps.Help, steps.Accepts, steps.ValueName,
            window.Get, window.With, int.Parse, v => v.ToString(), _ => null);
        var swappedBack = new SamplerOption<int>("window", null, window.Property, window.Help, window.Accepts, window.ValueName,
            steps.Get, steps.With, int.Parse, v => v.ToString(), _ => null);
        SamplerOptionInfo[] table = [swapped, swappedBack];
        Assert.That(FlagProblem(swapped, table, "13"), Does.Contain("[Window]"));
        Assert.That(FlagProblem(swappedBack, table, "5"), Does.Contain("[Steps]"));
    }

    [Test]
    public void ShortAndInlineSpellingsParseLikeTheLongOnes()
    {
        var args = SamplerFlags.Extract(["sample", "-T", "6", "-R3", "-K2", "--grid=uniform", "--denoise", "--out", "x.npy"], out var given);
        Assert.That(args, Is.EqualTo(new[] { "sample", "--out", "x.npy" }));
        var o = SamplerOptions.Defaults;
        foreach (var (entry, text) in given) o = entry.Parse(o, text);
        Assert.That(o, Is.EqualTo(SamplerOptions.Defaults with { Horizon = 6, SubWindows = 3, PicardRounds = 2, Grid = TimeGridKind.Uniform, Denoise = true }));
        Assert.That(Assert.Throws<ArgumentException>(() => SamplerFlags.Extract(["sample", "--steps", "4", "--steps", "5"], out _))!.Message, Does.Contain("--steps is given twice"));
        Assert.That(Assert.Throws<ArgumentException>(() => SamplerFlags.Extract(["sample", "--steps"], out _))!.Message, Does.Contain("--steps needs a value"));
        Assert.That(Assert.Throws<ArgumentException>(() => SamplerFlags.Extract(["sample", "--denoise=off"], out _))!.Message, Does.Contain("--denoise is a switch"));
    }

    [Test]
    public void DefaultTextsReadBackAsTheDefaults()
    {
        // T and delta parsed from their default texts are set, where the defaults leave them to the model: equal in effect
        // for a model trained on every time (the run's options, after ForModel), which is what is compared
        var everyTime = ClDiffusion.Models.GaussianMixture.Preset(2, 1);
        foreach (var option in SamplerOptionTable.All)
        {
            Assert.That(option.Parse(SamplerOptions.Defaults, option.DefaultText).ForModel(everyTime),
                Is.EqualTo(SamplerOptions.Defaults.ForModel(everyTime)), option.Name);
            var set = option.Parse(SamplerOptions.Defaults, NonDefault[option.Name]);
            Assert.That(option.Parse(SamplerOptions.Defaults, option.Text(set)), Is.EqualTo(set), $"{option.Name}: Text reads back");
            Assert.That(option.Problem(set), Is.Null, $"{option.Name} = {NonDefault[option.Name]} is valid");
        }
    }

    [TestCase("grid", "cosine", "unknown grid 'cosine' (use uniform, shrinking, logsnr or karras)")]
    [TestCase("x0-start", "midway", "unknown x0 start 'midway' (use line or fresh)")]
    [TestCase("parallel-corrector", "middle", "unknown parallel corrector placement 'middle' (use end or block)")]
    [TestCase("corrector", "ula", "unknown corrector 'ula' (use uld or rmuld)")]
    [TestCase("steps", "many", "steps: 'many' is not an integer (accepted: an integer in 1..65535)")]
    [TestCase("gamma", "fast", "gamma: 'fast' is not a number")]
    [TestCase("denoise", "maybe", "denoise: 'maybe' is not on or off")]
    public void BadTextIsRejectedNamingTheValueAndWhatIsAccepted(string key, string text, string message)
    {
        var e = Assert.Throws<ArgumentException>(() => SamplerOptionTable.Get(key).Parse(SamplerOptions.Defaults, text))!;
        Assert.That(e.Message, Does.Contain(message));
    }

    [Test]
    public void SetChecksTheValueAndNamesTheKey()
    {
        var e = Assert.Throws<ArgumentException>(() => SamplerOptionTable.Get("steps").Set(SamplerOptions.Defaults, "70000"))!;
        Assert.That(e.Message, Does.Contain("steps = '70000'").And.Contain("above the limit 65535").And.Contain("accepted: an integer in 1..65535"));
        e = Assert.Throws<ArgumentException>(() => SamplerOptionTable.Get("nope"))!;
        Assert.That(e.Message, Does.Contain("'nope'").And.Contain("x0-start").And.Contain("corrector-rounds"));
    }

    /// <summary>Validate runs every entry's own check: an out-of-range value of each checked option is refused.</summary>
    [TestCase("midpoint", "3", "midpoint order must be 1 or 2")]
    [TestCase("corrector-rounds", "0", "corrector Picard rounds must be at least 1")]
    [TestCase("lipschitz-cap", "1e13", "Lipschitz cap")]
    [TestCase("subwindows", "0", "R (sub-windows)")]
    public void ValidateAppliesEachEntrysCheck(string key, string text, string message)
    {
        var o = SamplerOptionTable.Get(key).Parse(SamplerOptions.Defaults, text);
        Assert.That(Assert.Throws<ArgumentException>(() => o.Validate())!.Message, Does.Contain(message));
        Assert.That(Assert.Throws<ArgumentException>(() => (SamplerOptions.Defaults with { Grid = (TimeGridKind)9 }).Validate())!.Message, Does.Contain("unknown grid '9'"));
    }

    [Test]
    public void SampleHelpListsEveryOptionWithItsDefault()
    {
        var (code, stdout, _) = ClDiffusion.Tests.Cli.VerbTests.Run("sample", "--help");
        Assert.That(code, Is.EqualTo(0));
        stdout = System.Text.RegularExpressions.Regex.Replace(stdout, @"\s+", " ");   // the help wraps long lines
        foreach (var option in SamplerOptionTable.All)
            Assert.That(stdout, Does.Contain($"{SamplerFlags.Spelling(option)}").And.Contain($"{option.Help} Default: {option.DefaultText}."), option.Name);
    }

    [Test]
    public void TheCliParsesEveryFlagEndToEnd()
    {
        var args = new List<string> { "sample", "--out", "x.npy" };
        foreach (var option in SamplerOptionTable.All) { args.Add("--" + option.Name); if (!option.IsSwitch) args.Add(NonDefault[option.Name]); }
        var rest = SamplerFlags.Extract(args.ToArray(), out var given);
        var parsed = new Parser(s => s.HelpWriter = null).ParseArguments<SampleOptions>(rest);
        SampleOptions? o = null;
        parsed.WithParsed(p => o = p);
        Assert.That(o, Is.Not.Null, "CommandLineParser accepts what is left");
        o!.Given = given;
        var so = o.ToSamplerOptions();
        Assert.That(Changed(so), Is.EquivalentTo(SamplerOptionTable.All.Select(e => e.Property).Distinct()));
    }

    /// <summary>docs/ARCHITECTURE.md's options table is the table's own (regenerate with `cldiff samplers --options-markdown`).</summary>
    [Test]
    public void TheArchitectureDocListsExactlyTheTable()
    {
        string doc = File.ReadAllText(Path.Combine(LayeringTests.RepoRoot(), "docs", "ARCHITECTURE.md"));
        int a = doc.IndexOf("<!-- options:begin", StringComparison.Ordinal), b = doc.IndexOf("<!-- options:end -->", StringComparison.Ordinal);
        Assert.That(a, Is.GreaterThanOrEqualTo(0).And.LessThan(b), "docs/ARCHITECTURE.md lacks the options markers");
        string table = doc[(doc.IndexOf('\n', a) + 1)..b];
        Assert.That(table.ReplaceLineEndings("\n"), Is.EqualTo(SamplerOptionTable.MarkdownTable()), "docs/ARCHITECTURE.md: run `cldiff samplers --options-markdown` and paste the table");
    }

    /// <summary>The header's list of cld_sample_settings_set keys is the table: same keys, same order, same defaults.</summary>
    [Test]
    public void TheHeaderListsExactlyTheTablesKeys()
    {
        string header = File.ReadAllText(Path.Combine(LayeringTests.RepoRoot(), "native", "include", "cldiffusion.h")).ReplaceLineEndings("\n");
        int a = header.IndexOf("keys:begin", StringComparison.Ordinal), b = header.IndexOf("keys:end", StringComparison.Ordinal);
        Assert.That(a, Is.GreaterThanOrEqualTo(0).And.LessThan(b), "cldiffusion.h lacks the keys:begin/keys:end markers");
        var lines = header[(header.IndexOf('\n', a) + 1)..header.LastIndexOf('\n', b)].Split('\n');
        var expected = SamplerOptionTable.All.Select(o => $"   {o.Name,-19} {o.DefaultText,-9} {o.Accepts}").ToArray();
        Assert.That(lines.Select(l => l.TrimEnd()), Is.EqualTo(expected.Select(l => l.TrimEnd())),
            "cldiffusion.h: the key list must be:\n" + string.Join("\n", expected));
    }
}

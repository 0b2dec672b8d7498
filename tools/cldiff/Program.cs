using ClDiffusion.Cli.Commands;
using CommandLine;
using CommandLine.Text;

namespace ClDiffusion.Cli;

/// <summary>
/// cldiff: sample, evaluate, benchmark and inspect devices. Help asked for (--help, help VERB, --version) goes to
/// stdout with exit 0; every failure prints one line naming the problem to stderr and exits non-zero; outputs are
/// written atomically, so a failed run never leaves a partial file.
/// </summary>
public static class Program
{
    /// <summary>
    /// Spellings CommandLineParser cannot declare (it rejects one-letter long names), mapped to the declared ones:
    /// the documented spellings are --n COUNT, and for score --x FILE --t TIME.
    /// </summary>
    static readonly Dictionary<string, string> Aliases = new() { ["--n"] = "--count", ["--x"] = "--points", ["--t"] = "--time" };

    static string Alias(string a)
    {
        int eq = a.IndexOf('=');
        string name = eq < 0 ? a : a[..eq];
        return Aliases.TryGetValue(name, out var to) ? to + (eq < 0 ? "" : a[eq..]) : a;
    }

    public static int Main(string[] args)
    {
        // No help writer: the help text is written below, to stdout when it was asked for and to stderr after an error.
        var parser = new Parser(s => { s.HelpWriter = null; s.CaseInsensitiveEnumValues = true; s.AutoVersion = true; });
        args = args.Select(Alias).ToArray();
        try
        {
            var result = parser.ParseArguments<SampleOptions, EvalOptions, DevicesOptions, BenchOptions, ExperimentOptions, TrainOptions, ScoreOptions, CheckOptions, DemoOptions, SelfTestOptions, MergeOptions, TuneOptions, MlpBenchOptions, ScalingOptions>(args);
            return result.MapResult(
                (SampleOptions o) => SampleCommand.Run(o),
                (EvalOptions o) => EvalCommand.Run(o),
                (DevicesOptions o) => DevicesCommand.Run(o.Json),
                (BenchOptions o) => BenchCommand.Run(o),
                (ExperimentOptions o) => ExperimentCommand.Run(o),
                (TrainOptions o) => o.Run(),
                (ScoreOptions o) => o.Run(),
                (CheckOptions o) => o.Run(),
                (DemoOptions o) => DemoCommand.Run(o),
                (SelfTestOptions o) => SelfTestCommand.Run(o),
                (MergeOptions o) => MergeCommand.Run(o),
                (MlpBenchOptions o) => MlpBenchCommand.Run(o),
                (TuneOptions o) => TuneCommand.Run(o),
                (ScalingOptions o) => ScalingCommand.Run(o),
                errs => Help(result, errs));
        }
        catch (OperationCanceledException) { Console.Error.WriteLine("cldiff: cancelled"); return 130; }
        catch (Exception e) when (e is ClDiffusion.Backends.OpenCL.OpenClException or ArgumentException or InvalidDataException or FileNotFoundException or DirectoryNotFoundException or IOException or NotSupportedException or UnauthorizedAccessException or InvalidOperationException)
        {
            Console.Error.WriteLine($"cldiff: error: {e.Message}");
            return 1;
        }
    }

    /// <summary>Help or version asked for: stdout, exit 0. A parse error: the errors and the help on stderr, exit 2.</summary>
    static int Help<T>(ParserResult<T> result, IEnumerable<Error> errs)
    {
        bool asked = errs.All(e => e.Tag is ErrorType.HelpRequestedError or ErrorType.HelpVerbRequestedError or ErrorType.VersionRequestedError);
        string heading = $"cldiff {ClDiffusion.Version.Text}";
        if (errs.Any(e => e.Tag == ErrorType.VersionRequestedError)) { Console.Out.WriteLine(heading); return 0; }
        var text = HelpText.AutoBuild(result, 110);
        // the parser would name the entry assembly (a test host, when run in-process) and its copyright
        text.Heading = heading;
        text.Copyright = "MIT licence; docs: README.md and docs/ in the repository";
        (asked ? Console.Out : Console.Error).WriteLine(text);
        return asked ? 0 : 2;
    }
}

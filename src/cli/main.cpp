// transfix: finds and fixes what model converters break.
#include <iostream>

#include "cli/commands.h"
#include "core/errors.h"
#include "core/thread_pool.h"

int main(int argc, char** argv) {
  using namespace transfix::cli;
  transfix::use_sleeping_openmp_threads(argv);
  transfix::configure_allocator_for_inference();
  CLI::App app{"transfix: finds and fixes what deep-learning model converters break.\n"
               "Exit codes: 0 ok, 1 finding (e.g. models disagree), 2 usage or input error."};
  app.set_version_flag("--version", std::string("transfix ") + TRANSFIX_VERSION);
  app.require_subcommand(1);
  add_inspect(app);
  add_run(app);
  add_convert(app);
  add_bench(app);
  add_compare(app);
  add_merge(app);
  add_localize(app);
  add_mutate(app);
  add_repair(app);
  add_coverage(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitError;
  } catch (const transfix::InputError& e) {
    std::cerr << "transfix: error: " << e.what() << "\n";
    return kExitError;
  } catch (const std::exception& e) {
    std::cerr << "transfix: internal error: " << e.what() << "\n";
    return 3;
  }
  return exit_code();
}

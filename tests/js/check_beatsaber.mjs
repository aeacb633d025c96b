// Validate an unpacked Beat Saber level with bsmap, schema checks on.
// Usage: node check_beatsaber.mjs LEVEL_FOLDER
// Prints one JSON object: {"info": {...}, "difficulties": {"EasyStandard.dat": {"notes": [...]}}}.
// Exits 1 with the first schema error on stderr when a file does not pass.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadDifficulty, loadInfo, logger } from 'bsmap';

logger.setLevel(2); // warnings and errors (stderr); info lines would spoil the JSON on stdout

const schemaCheck = {
  enabled: true,
  throwOn: {
    unused: false, missing: true, ignoreOptional: false, nullish: true, wrongType: true,
    notInt: true, notUnsigned: true,
  },
};
const folder = process.argv[2];
const read = (name) => JSON.parse(readFileSync(join(folder, name), 'utf8'));

try {
  const infoJson = read('Info.dat');
  const info = loadInfo(infoJson, 2, { schemaCheck });
  const result = { info: { version: infoJson._version, bpm: infoJson._beatsPerMinute }, difficulties: {} };
  for (const set of infoJson._difficultyBeatmapSets) {
    for (const entry of set._difficultyBeatmaps) {
      const diffJson = read(entry._beatmapFilename);
      const beatmap = loadDifficulty(diffJson, 3, { schemaCheck });
      result.difficulties[entry._beatmapFilename] = {
        version: diffJson.version,
        notes: beatmap.difficulty.colorNotes.map((n) => [n.time, n.posX, n.posY, n.color, n.direction]),
      };
    }
  }
  result.info.difficultyCount = info.difficulties.length;
  process.stdout.write(JSON.stringify(result));
} catch (error) {
  process.stderr.write(String(error?.message ?? error));
  process.exit(1);
}

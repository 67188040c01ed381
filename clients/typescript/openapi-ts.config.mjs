// @hey-api/openapi-ts settings (scripts/sdk): the generated code is src/generated;
// never edit it by hand. CONFAB_SDK_OUT redirects the output (scripts/sdk --check).
import { defineConfig } from '@hey-api/openapi-ts';

export default defineConfig({
  input: process.env.CONFAB_SDK_SPEC ?? '../../openapi/openapi.json',
  output: {
    path: process.env.CONFAB_SDK_OUT ?? 'src/generated',
    importFileExtension: '.js',
    tsConfigPath: './tsconfig.json',
  },
  plugins: ['@hey-api/client-fetch', '@hey-api/typescript', '@hey-api/sdk'],
});

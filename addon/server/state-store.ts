// What the add-on remembers per document (send in progress, campaigns and their sync cursors, the recurring send,
// the last composition) and per user (settings). Owns PropertiesService; stores small JSON only (9 KB per value).
import type { ComposeConfig } from '../core/column-mapping';
import type { Recurrence } from '../core/recurrence';
import type { CampaignState } from '../core/service-contract';
import type { SendJob } from '../core/upload-plan';

/** A campaign whose results this document pulls. `cursor` is the `next` of the last page applied. */
export interface TrackedCampaign {
  id: string;
  name: string;
  sheetName: string;
  spreadsheetId: string;
  cursor: string | null;
  state: CampaignState | null;
  createdAt: string;
}

export interface RecurringSend {
  recurrence: Recurrence;
  config: ComposeConfig;
  spreadsheetId: string;
  lastRunAt: string | null;
}

/** Campaigns kept for syncing; older ones drop off so the list stays far below the 9 KB value limit. */
const MAX_TRACKED = 20;

type Props = GoogleAppsScript.Properties.Properties;

/**
 * Document properties when Apps Script provides them; in an execution without a document (some time-trigger runs)
 * a per-spreadsheet namespace of the user's properties stands in, so state is never silently lost.
 */
function documentStore(spreadsheetId: string | null): { props: Props; prefix: string } {
  const doc = PropertiesService.getDocumentProperties();
  if (doc) return { props: doc, prefix: '' };
  return { props: PropertiesService.getUserProperties(), prefix: `doc:${spreadsheetId ?? 'none'}:` };
}

function readJson<T>(props: Props, key: string): T | null {
  const raw = props.getProperty(key);
  if (raw === null || raw === '') return null;
  try {
    return JSON.parse(raw) as T;
  } catch {
    return null;
  }
}

/** The per-document state, bound to one spreadsheet. */
export class DocumentState {
  private readonly props: Props;
  private readonly prefix: string;
  constructor(spreadsheetId: string | null) {
    const s = documentStore(spreadsheetId);
    this.props = s.props;
    this.prefix = s.prefix;
  }

  get job(): SendJob | null {
    return readJson<SendJob>(this.props, `${this.prefix}job`);
  }
  set job(job: SendJob | null) {
    if (job === null) this.props.deleteProperty(`${this.prefix}job`);
    else this.props.setProperty(`${this.prefix}job`, JSON.stringify(job));
  }

  get campaigns(): TrackedCampaign[] {
    return readJson<TrackedCampaign[]>(this.props, `${this.prefix}campaigns`) ?? [];
  }
  set campaigns(list: TrackedCampaign[]) {
    this.props.setProperty(`${this.prefix}campaigns`, JSON.stringify(list.slice(0, MAX_TRACKED)));
  }

  /** Adds a campaign to the front of the sync list (newest first). */
  track(campaign: TrackedCampaign): void {
    this.campaigns = [campaign, ...this.campaigns.filter((c) => c.id !== campaign.id)];
  }

  /** Applies `change` to one tracked campaign; a no-op for an unknown id. */
  updateCampaign(id: string, change: Partial<TrackedCampaign>): void {
    this.campaigns = this.campaigns.map((c) => (c.id === id ? { ...c, ...change } : c));
  }

  get recurring(): RecurringSend | null {
    return readJson<RecurringSend>(this.props, `${this.prefix}recurring`);
  }
  set recurring(value: RecurringSend | null) {
    if (value === null) this.props.deleteProperty(`${this.prefix}recurring`);
    else this.props.setProperty(`${this.prefix}recurring`, JSON.stringify(value));
  }

  get lastCompose(): ComposeConfig | null {
    return readJson<ComposeConfig>(this.props, `${this.prefix}compose`);
  }
  set lastCompose(config: ComposeConfig | null) {
    if (config === null) this.props.deleteProperty(`${this.prefix}compose`);
    else this.props.setProperty(`${this.prefix}compose`, JSON.stringify(config));
  }

  /** Unique id of the one-off continuation trigger, if one is pending. */
  get continuationTriggerId(): string | null {
    return this.props.getProperty(`${this.prefix}continuation`);
  }
  set continuationTriggerId(id: string | null) {
    if (id === null) this.props.deleteProperty(`${this.prefix}continuation`);
    else this.props.setProperty(`${this.prefix}continuation`, id);
  }
}

/** Per-user values: the service settings, and which spreadsheet each of the user's triggers belongs to. */
export const userState = {
  get(key: 'serviceUrl' | 'apiKey' | 'testNumber'): string {
    return PropertiesService.getUserProperties().getProperty(key) ?? '';
  },
  set(values: Partial<Record<'serviceUrl' | 'apiKey' | 'testNumber', string>>): void {
    PropertiesService.getUserProperties().setProperties(values as Record<string, string>);
  },
  /** Time triggers carry no spreadsheet; the trigger's uid maps back to the one that created it. */
  spreadsheetForTrigger(triggerUid: string): string | null {
    return PropertiesService.getUserProperties().getProperty(`trigger:${triggerUid}`);
  },
  rememberTrigger(triggerUid: string, spreadsheetId: string): void {
    PropertiesService.getUserProperties().setProperty(`trigger:${triggerUid}`, spreadsheetId);
  },
  forgetTrigger(triggerUid: string): void {
    PropertiesService.getUserProperties().deleteProperty(`trigger:${triggerUid}`);
  },
};

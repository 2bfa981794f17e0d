import { paneSection, stageLayout } from './common.js';

export const pane = {
  id: 'host',
  title: 'Host',
  icon: 'host',
  description: 'Run a conference: admit people from the waiting room and control the composition.',
  mount(store) {
    const { section, body } = paneSection(this);
    body.append(
      stageLayout('host', {
        stageTitle: 'Composition preview',
        stageText: 'The mixed composite that participants and viewers see.',
        cards: [
          { id: 'host-waiting', title: 'Waiting room', empty: 'Nobody is waiting.' },
          { id: 'host-participants', title: 'In the room', empty: 'No participants yet.' },
          {
            id: 'host-controls',
            title: 'Conference controls',
            items: [
              'Create or open a composition on the active server',
              'Admit, mute or remove participants',
              'Choose the layout of the composite video',
            ],
          },
        ],
      }),
    );
    return section;
  },
};

import './base.css';
import './jobs.css';
import './sweeps.css';
import './schedules.css';
import './live.css';
import './queues.css';
